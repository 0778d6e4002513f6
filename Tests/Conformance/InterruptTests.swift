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
}
