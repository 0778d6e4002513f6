#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Fuzz
import TargetFiles
import Wire

/// `mcsec fuzz`: generated requests sent to a live server and to the reference configured as
/// that server (its target file); every difference graded by the page.
enum FuzzCommand {
    static let help = CommandHelp(
        path: "fuzz",
        about: """
        Generates requests over the documented surface (signatures, ingest order, sizes and
        framing, body grammar, agent and user authentication, paths, proxy headers, request ids),
        sends each to the target and to the reference built from the target file, and reports every
        difference: FAIL when a rule of the page is broken (with rule ids), DEVIATION when only
        behaviour the page does not promise differs, INFO when the oracle could not be certain (a
        rate-limit window edge). Each differing class is shrunk to a minimal request, printed as a
        curl command line. The target's rate limiters should start empty (a fresh server, or a
        window's quiet).
        """,
        options: [
            .valued("target-file", "FILE", "the deployment's ids, secrets, tokens and configuration (required)", kind: .inputFile),
            .valued("target", "URL", "the server (http:// only); default: the target file's baseURL"),
            .valued("budget", "N", "requests to send (default 1000)"),
            .valued("seed", "S", "the generator's seed (default 1); the same seed sends the same bytes"),
            .valued("classes", "LIST", "comma-separated class names or prefixes (e.g. sig,cl.plus-sign)"),
            .valued("format", "F", "text (default), json or junit"),
            .valued("output", "FILE", "write the report there instead of standard output", kind: .outputFile),
            .flag("strict", "exit 1 on DEVIATION too"),
            .flag("show-secrets", "do not mask secrets and tokens in reproductions"),
            .flag("no-shrink", "report the first differing request of each class as it was"),
            .flag("list-classes", "print the classes and exit"),
        ],
        footer: "Exit status: 0 no FAIL; 1 FAIL (or DEVIATION with --strict); 2 bad options, input or an unreachable server.")

    static func run(_ arguments: Arguments) throws -> Int32 {
        try arguments.noPositionals()
        if arguments.flag("list-classes") {
            var text = ""
            for c in RequestClass.catalog {
                text += c.name.padding(toLength: 40, withPad: " ", startingAt: 0) + c.summary + " [" + c.rules.joined(separator: ", ") + "]\n"
            }
            FileHandle.standardOutput.write(Data(text.utf8))
            return 0
        }
        guard let path = arguments.value("target-file") else { throw UsageError("--target-file is required (see Fixtures/targets/README.md)") }
        let target: TargetFile
        do { target = try TargetFile.load(from: URL(fileURLWithPath: path)) } catch { throw UsageError("\(error)") }
        guard let url = arguments.value("target") ?? target.baseURL else {
            throw UsageError("no server: give --target URL or a baseURL in the target file")
        }
        guard url.hasPrefix("http://") else { throw UsageError("--target must be an http:// URL (fuzz sends raw bytes), got '\(url)'") }
        let authority = url.dropFirst(7).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        var host = authority, port = 80
        if let colon = authority.lastIndex(of: ":"), let p = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon])
            port = p
        }
        guard !host.isEmpty, (1...65_535).contains(port) else { throw UsageError("cannot read a host and port from '\(url)'") }
        var options = FuzzOptions()
        options.budget = try arguments.int("budget", default: 1_000, range: 1...10_000_000) ?? 1_000
        if let s = arguments.value("seed") {
            guard let seed = UInt64(s) else { throw UsageError("--seed must be a non-negative integer, got '\(s)'") }
            options.seed = seed
        }
        options.classes = (arguments.value("classes") ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        options.shrink = !arguments.flag("no-shrink")
        let format = arguments.value("format") ?? "text"
        guard ["text", "json", "junit"].contains(format) else { throw UsageError("--format must be text, json or junit, got '\(format)'") }

        // A server that cannot be reached is an input error, not thousands of failures.
        do { try RawHTTPConnection(host: host, port: port, timeout: 5).close() } catch {
            throw UsageError("cannot reach \(url): \(error)")
        }
        let run: FuzzRun
        do { run = try FuzzRun(target: target, host: host, port: port, options: options) } catch let error as FuzzInputError {
            throw UsageError(error.description)
        }
        if isatty(2) == 1 {
            run.progress = { done, total, differing in
                if done % 100 == 0 || done == total {
                    FileHandle.standardError.write(Data("\r\u{1B}[K\(done)/\(total) requests, \(differing) differ\(done == total ? "\n" : "")".utf8))
                }
            }
        }
        let result = run.run()
        let report = FuzzReport(result: result, run: run, showSecrets: arguments.flag("show-secrets"), strict: arguments.flag("strict"))
        let text: String
        switch format {
        case "json": text = report.json.pretty + "\n"
        case "junit": text = report.junit
        default: text = report.text
        }
        if let output = arguments.value("output") {
            do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                throw UsageError("cannot write \(output): \(error.localizedDescription)")
            }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        return report.exitStatus
    }
}
