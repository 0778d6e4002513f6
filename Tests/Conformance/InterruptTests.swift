import Foundation
import Testing
import Harness
import TestSupport
import Wire

/// `mcsec check --over-http` starts `mcsec serve` processes; however it is stopped, none of
/// them outlives it.
@Suite(.serialized) struct InterruptTests {
    /// Processes whose parent is `pid` (from /proc), with their command lines.
    static func children(of pid: Int32) -> [(pid: Int32, command: String)] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> (Int32, String)? in
            guard let child = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == pid else { return nil }
            let command = (try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8))?.replacingOccurrences(of: "\0", with: " ") ?? ""
            return (child, command)
        }
    }

    static func isAlive(_ pid: Int32) -> Bool {
        // A zombie is dead too: only a running or sleeping process counts.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    /// Starts `check --over-http`, waits until it runs servers,
    /// stops it with `signal` (to the group or to it alone), and returns the servers' PIDs.
    static func interrupt(_ signal: Int32, group: Bool) throws -> (status: Int32?, servers: [Int32], stderr: String) {
        let binary = try #require(TestPaths.mcsecBinary)
        let check = try ChildProcess(executable: binary, arguments: ["check", "--over-http"])
        defer { check.terminate() }
        // Started in a process group of its own (as a shell runs a pipeline), so the group can be
        // signalled without signalling this test.
        try #require(getpgid(check.pid) == check.pid && getpgid(check.pid) != getpgrp())
        let deadline = Date().addingTimeInterval(30)
        var servers: [Int32] = []
        while Date() < deadline {
            servers = children(of: check.pid).filter { $0.command.contains(" serve ") }.map(\.pid)
            if servers.count >= 2 { break }
            usleep(20_000)
        }
        try #require(servers.count >= 2, "check --over-http started no servers: \(check.stderr.suffix(400))")
        kill(group ? -check.pid : check.pid, signal)
        let status = check.waitForExit(timeout: 30)
        // Servers stop on their own when their parent is gone (their standard input closes):
        // give them the time a graceful stop takes.
        let gone = Date().addingTimeInterval(10)
        while servers.contains(where: isAlive) && Date() < gone { usleep(20_000) }
        return (status, servers, check.stderr)
    }

    @Test(.requiresMcsecBinary) func sigintToTheProcessGroupLeavesNoServer() throws {
        let (status, servers, stderr) = try Self.interrupt(SIGINT, group: true)
        #expect(status == 128 + SIGINT, "\(stderr.suffix(300))")
        let alive = servers.filter(Self.isAlive)
        #expect(alive.isEmpty, "mcsec serve still running: \(alive)")
    }

    @Test(.requiresMcsecBinary) func sigtermToTheParentAloneLeavesNoServer() throws {
        let (status, servers, stderr) = try Self.interrupt(SIGTERM, group: false)
        #expect(status == 128 + SIGTERM, "\(stderr.suffix(300))")
        #expect(stderr.contains("the mcsec serve processes it started are stopped"))
        let alive = servers.filter(Self.isAlive)
        #expect(alive.isEmpty, "mcsec serve still running: \(alive)")
    }

    /// Killed outright (no chance to clean up), the servers notice their input closing.
    @Test(.requiresMcsecBinary) func sigkillToTheParentLeavesNoServer() throws {
        let (_, servers, _) = try Self.interrupt(SIGKILL, group: false)
        let alive = servers.filter(Self.isAlive)
        #expect(alive.isEmpty, "mcsec serve still running after its parent was killed: \(alive)")
    }

    /// Every process below `pid` (children, their children, …).
    static func descendants(of pid: Int32) -> [(pid: Int32, command: String)] {
        var out: [(pid: Int32, command: String)] = []
        var frontier = [pid]
        while let next = frontier.popLast() {
            let found = children(of: next)
            out += found
            frontier += found.map(\.pid)
        }
        return out
    }

    /// Starts `mcsec <arguments>`, waits until a descendant matching `isChild` runs, stops it
    /// with `signal` (to its group or to it alone) and returns those children.
    static func interruptCommand(_ arguments: [String], signal: Int32, group: Bool, isChild: @escaping ((pid: Int32, command: String)) -> Bool)
        throws -> (status: Int32?, children: [Int32], stderr: String) {
        let binary = try #require(TestPaths.mcsecBinary)
        let process = try ChildProcess(executable: binary, arguments: arguments)
        defer { process.terminate() }
        let deadline = Date().addingTimeInterval(60)
        var found: [Int32] = []
        while Date() < deadline && process.isRunning {
            found = descendants(of: process.pid).filter(isChild).map(\.pid)
            if !found.isEmpty { break }
            usleep(20_000)
        }
        try #require(!found.isEmpty, "\(arguments) started no child: \(process.stderr.suffix(400))")
        kill(group ? -process.pid : process.pid, signal)
        let status = process.waitForExit(timeout: 30)
        let gone = Date().addingTimeInterval(10)
        while found.contains(where: isAlive) && Date() < gone { usleep(20_000) }
        return (status, found, process.stderr)
    }

    @Test(.requiresMcsecBinary) func benchCheckInterruptedLeavesNoServer() throws {
        for (signal, group) in [(SIGINT, true), (SIGTERM, false)] {
            let (status, servers, stderr) = try Self.interruptCommand(["bench", "check", "--runs", "1"], signal: signal, group: group) {
                $0.command.contains(" serve ")
            }
            #expect(status == 128 + signal, "\(stderr.suffix(300))")
            let alive = servers.filter(Self.isAlive)
            #expect(alive.isEmpty, "mcsec serve still running after signal \(signal): \(alive)")
        }
    }

    @Test(.requiresMcsecBinary, .requires(.redisServer)) func benchRedisInterruptedOrKilledLeavesNoRedisServer() throws {
        for (signal, group) in [(SIGINT, true), (SIGTERM, false), (SIGKILL, false)] {
            let (status, servers, stderr) = try Self.interruptCommand(["bench", "redis", "--count", "100000", "--rounds", "20"], signal: signal, group: group) {
                $0.command.contains("redis-server 127.0.0.1:")
            }
            if signal != SIGKILL {
                #expect(status == 128 + signal, "\(stderr.suffix(300))")
                #expect(stderr.contains("the redis-server it started is stopped"), "\(stderr.suffix(300))")
            }
            let alive = servers.filter(Self.isAlive)
            #expect(alive.isEmpty, "redis-server still running after signal \(signal): \(alive)")
        }
    }
}
