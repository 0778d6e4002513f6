import Foundation
import Testing
import TestSupport
import Wire

/// The command line as a user meets it: help texts that list exactly what the parser accepts,
/// errors in one plain line (`mcsec <command>: what: why`, never the platform's error text),
/// exit statuses as documented, and the README's commands in agreement with both.
@Suite struct CommandLineTests {
    struct Run {
        var status: Int32?
        var stdout: String
        var stderr: String
    }

    static func mcsec(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 60,
                      in directory: URL? = nil) throws -> Run {
        let binary = try #require(TestPaths.mcsecBinary, "the mcsec executable is not built next to the tests")
        let child = try ChildProcess(executable: binary, arguments: arguments, environment: environment, workingDirectory: directory)
        let status = child.waitForExit(timeout: timeout)
        if status == nil { child.terminate() }
        return Run(status: status, stdout: child.stdoutLines.joined(separator: "\n"), stderr: child.stderr)
    }

    /// Every leaf command ("check", "bench redis"), read from `mcsec help` itself.
    static func commands() throws -> [[String]] {
        func names(_ help: String) -> [String] {
            guard let start = help.range(of: "commands:\n") else { return [] }
            return help[start.upperBound...].split(separator: "\n").prefix { $0.hasPrefix("  ") }
                .compactMap { $0.split(separator: " ").first.map(String.init) }
        }
        var out: [[String]] = []
        for name in names(try mcsec(["help"]).stdout + "\n") {
            let sub = names(try mcsec(["help", name]).stdout + "\n")
            if sub.isEmpty { out.append([name]) } else { out += sub.map { [name, $0] } }
        }
        return out
    }

    /// The option names (without dashes) in `text`.
    static func optionNames<S: StringProtocol>(_ text: S) -> Set<String> {
        var names: Set<String> = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i + 2 < scalars.count {
            if scalars[i] == "-" && scalars[i + 1] == "-" && (i == 0 || !CharacterSet.alphanumerics.contains(scalars[i - 1]) && scalars[i - 1] != "-")
                && CharacterSet.lowercaseLetters.contains(scalars[i + 2]) {
                var j = i + 2
                var name = ""
                while j < scalars.count, CharacterSet.lowercaseLetters.contains(scalars[j]) || CharacterSet.decimalDigits.contains(scalars[j]) || scalars[j] == "-" {
                    name.unicodeScalars.append(scalars[j])
                    j += 1
                }
                names.insert(name.hasSuffix("-") ? String(name.dropLast()) : name)
                i = j
            } else {
                i += 1
            }
        }
        return names
    }

    /// The usage lines (from "usage:" to the first blank line) and the options section's names
    /// with whether each takes a value.
    static func parseHelp(_ text: String) -> (usage: Set<String>, options: [(name: String, valued: Bool)]) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let usage = lines.prefix { !$0.isEmpty }.joined(separator: "\n")
        var options: [(String, Bool)] = []
        if let start = lines.firstIndex(of: "options:") {
            for line in lines[(start + 1)...] {
                guard line.hasPrefix("  --") else { if line.isEmpty { break } else { continue } }
                let words = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: true)
                let name = String(words[0].dropFirst(2))
                // "--name VALUE  help" has its placeholder right after one space.
                let valued = line.dropFirst(2 + words[0].count).hasPrefix(" ") && !line.dropFirst(3 + words[0].count).hasPrefix(" ")
                    && !line.dropFirst(2 + words[0].count).isEmpty
                options.append((name, valued))
            }
        }
        return (optionNames(usage), options)
    }

    @Test func everyCommandHasHelpAndItsUsageLineListsEveryOptionTheParserAccepts() throws {
        let commands = try Self.commands()
        #expect(commands.count >= 11, "\(commands)")
        for path in commands {
            let help = try Self.mcsec(["help"] + path)
            #expect(help.status == 0, "\(path): \(help.stderr)")
            #expect(help.stdout.hasPrefix("usage: mcsec \(path.joined(separator: " "))"), "\(path)")
            // --help gives the same text.
            #expect(try Self.mcsec(path + ["--help"]).stdout == help.stdout, "\(path)")
            let (usage, options) = Self.parseHelp(help.stdout + "\n")
            let described = Set(options.map(\.name)).subtracting(["help"])
            #expect(!described.isEmpty, "\(path): no options section")
            #expect(usage == described, "\(path): usage line \(usage.sorted()) vs options \(described.sorted())")
            // The parser accepts every documented option (with a value where it takes one)…
            for (name, valued) in options where name != "help" {
                let run = try Self.mcsec(path + [valued ? "--\(name)=x" : "--\(name)", "--help"])
                #expect(run.status == 0 && run.stdout.hasPrefix("usage:"), "\(path) --\(name): \(run.stderr)")
            }
            // …and nothing else.
            let unknown = try Self.mcsec(path + ["--no-such-option"])
            #expect(unknown.status == 2 && unknown.stderr.contains("unknown option '--no-such-option'"), "\(path): \(unknown.stderr)")
            // A valued option at the end of the line needs its value.
            if let valued = options.first(where: { $0.valued }) {
                let missing = try Self.mcsec(path + ["--\(valued.name)"])
                #expect(missing.status == 2, "\(path) --\(valued.name)")
                #expect(missing.stderr.hasPrefix("mcsec \(path.joined(separator: " ")): option --\(valued.name) needs a value"), "\(missing.stderr)")
            }
        }
    }

    @Test func aMisspeltOptionOrCommandNamesTheNearestOne() throws {
        let option = try Self.mcsec(["serve", "--prot", "0"])
        #expect(option.status == 2)
        #expect(option.stderr.contains("did you mean --port?"), "\(option.stderr)")
        let command = try Self.mcsec(["chek"])
        #expect(command.status == 2)
        #expect(command.stderr.contains("did you mean 'check'?"), "\(command.stderr)")
        let bench = try Self.mcsec(["bench", "redi"])
        #expect(bench.status == 2 && bench.stderr.hasPrefix("mcsec bench: unknown command 'redi'; did you mean 'redis'?"), "\(bench.stderr)")
    }

    @Test func versionComesFromOnePlaceAndIsInJSONReports() throws {
        let version = try Self.mcsec(["--version"])
        #expect(version.status == 0)
        let words = version.stdout.split(separator: " ")
        #expect(words.count == 2 && words[0] == "mcsec", "\(version.stdout)")
        let number = String(words.last ?? "")
        #expect(number.split(separator: ".").count == 3 && number.split(separator: ".").allSatisfy { Int($0) != nil }, "\(number)")
        #expect(try Self.mcsec(["--help"]).stdout.hasPrefix("mcsec \(number):"))

        let check = try Self.mcsec(["check", "--rules", "HDR-1", "--format", "json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any], "\(check.stdout.prefix(300))")
        #expect(report["mcsec_version"] as? String == number)

        let json = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-version-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        let bench = try Self.mcsec(["bench", "hmac", "--size", "64", "--seconds", "0.03", "--json", json])
        #expect(bench.status == 0, "\(bench.stderr)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(figures["mcsec_version"] as? String == number)

        let out = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-version-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let profile = TestPaths.fixtures.appendingPathComponent("profiles/crossing-limits.jsonl").path
        let simulate = try Self.mcsec(["simulate", "--profile", profile, "--format", "json", "--out-dir", out])
        #expect(simulate.status == 0, "\(simulate.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(simulate.stdout.utf8)) as? [String: Any])
        #expect(summary["mcsec_version"] as? String == number)
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as? [String: Any])
        #expect(file["mcsec_version"] as? String == number)
    }

    /// Files for the error paths: missing, a directory, bad JSON, a file where a directory is
    /// wanted, and a directory that cannot be created.
    struct Files {
        let dir: String
        var missing: String { dir + "/missing.json" }
        var directory: String { dir + "/a-directory" }
        var badJSON: String { dir + "/bad.json" }
        var file: String { dir + "/a-file" }
        var profile: String { dir + "/p.jsonl" }
        var underFile: String { dir + "/a-file/out" }

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-errors-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir + "/a-directory", withIntermediateDirectories: true)
            try Data("{\"a\": [1, 2,, 3]}\n".utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
            try Data("text\n".utf8).write(to: URL(fileURLWithPath: dir + "/a-file"))
            try Data("{\"t\":0,\"client\":\"10.0.0.1\",\"endpoint\":\"webhook\",\"body_bytes\":1,\"signature\":\"valid\"}\n".utf8)
                .write(to: URL(fileURLWithPath: dir + "/p.jsonl"))
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Every command through its error paths: (arguments, what the message must name).
    static func errorCases(_ f: Files) -> [([String], String)] {
        let profile = f.profile
        var cases: [([String], String)] = [
            (["check", "--target-file", f.missing], "--target-file \(f.missing): no such file"),
            (["check", "--target-file", f.directory], "is a directory"),
            (["check", "--target-file", f.badJSON], "bad.json:1:"),
            (["check", "--fixtures", f.missing], "no such directory"),
            (["check", "--fixtures", f.directory], "rules.json: no such file"),
            (["check", "--output", f.directory, "--rules", "SIG"], "--output \(f.directory): is a directory"),
            (["check", "--output", f.underFile], "a-file is a file, not a directory"),
            (["check", "--cacert", f.missing, "--target", "https://127.0.0.1:1"], "no such file"),
            (["check", "--format", "yaml"], "--format must be"),
            (["check", "--target", "ftp://127.0.0.1/"], "ftp://"),
            (["check", "--target", "http://mcsec-no-such-host.invalid:80"], "cannot resolve the host name 'mcsec-no-such-host.invalid'"),
            (["check", "--over-http", "--env", "NOEQUALS"], "--env expects KEY=VALUE"),
            (["serve", "--world", f.missing, "--port", "0"], "--world \(f.missing): no such file"),
            (["serve", "--world", f.directory, "--port", "0"], "is a directory"),
            (["serve", "--world", f.badJSON, "--port", "0"], "bad.json:1:"),
            (["serve", "--port", "70000"], "--port must be between"),
            (["serve", "--port", "0", "--env", "WEBHOOK_MAX_PAYLOAD_BYTES=lots"], "WEBHOOK_MAX_PAYLOAD_BYTES"),
            (["sign", "--secret", "s", f.missing], "\(f.missing): no such file"),
            (["sign", "--secret", "s", f.directory], "is a directory"),
            (["sign", "--secret-file", f.missing], "--secret-file \(f.missing): no such file"),
            (["sign", "--secret", ""], "--secret is empty"),
            (["profile", "--spec", f.missing], "--spec \(f.missing): no such file"),
            (["profile", "--spec", f.directory], "is a directory"),
            (["profile", "--spec", f.badJSON], "bad.json:1:"),
            (["profile", "--from", f.missing, "--format", "csv"], "--from \(f.missing): no such file"),
            (["profile", "--shape", "constant", "--rate", "1", "--duration", "1s", "--out", f.directory], "--out \(f.directory): is a directory"),
            (["profile", "--shape", "constant", "--rate", "1", "--duration", "1s", "--out", f.underFile], "is a file, not a directory"),
            (["profile", "--shape", "constant", "--rate", "fast", "--duration", "1s"], "--rate expects a number"),
            (["simulate", "--profile", f.missing], "--profile \(f.missing): no such file"),
            (["simulate", "--profile", f.directory], "is a directory"),
            (["simulate", "--profile", f.badJSON], "bad.json:1:"),
            (["simulate", "--profile", profile, "--out-dir", f.file], "--out-dir \(f.file): is an existing file"),
            (["simulate", "--profile", profile, "--out-dir", f.underFile], "is a file, not a directory"),
            (["simulate", "--profile", profile, "--compare", f.missing], "--compare \(f.missing): no such file"),
            (["simulate", "--profile", profile, "--compare", f.badJSON], "bad.json:1:"),
            (["simulate", "--profile", profile, "--workers", "many"], "--workers expects a whole number"),
            (["replay", "--profile", f.missing], "--profile \(f.missing): no such file"),
            (["replay", "--profile", profile, "--target-file", f.badJSON], "bad.json:1:"),
            (["replay", "--profile", profile, "--out-dir", f.file], "is an existing file"),
            (["replay", "--profile", profile, "--target", "ftp://127.0.0.1:1"], "not an http:// URL"),
            (["replay", "--profile", profile, "--target", "http://127.0.0.1:1"], "cannot reach the target"),
            (["replay", "--profile", profile, "--target", "http://mcsec-no-such-host.invalid:80", "--sources", "forwarded"], "cannot resolve the host name"),
            (["replay", "--profile", profile, "--concurrency", "0"], "--concurrency must be between"),
            (["bench", "limiter", "--json", f.directory], "--json \(f.directory): is a directory"),
            (["bench", "hmac", "--json", f.underFile], "is a file, not a directory"),
            (["bench", "redis", "--json", f.missing + "/x/y"], "does not exist"),
            (["bench", "redis", "--url", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
            (["bench", "redis", "--url", "http://127.0.0.1/"], "--url"),
            (["bench", "check", "--json", f.directory], "is a directory"),
            (["bench", "simulate", "--json", f.directory], "is a directory"),
            (["bench", "simulate", "--events", "0"], "--events must be between"),
            (["bench", "replay", "--json", f.directory], "is a directory"),
            (["bench", "replay", "--rates", "soon"], "is not a rate"),
            (["fuzz", "--target-file", f.missing], "--target-file \(f.missing): no such file"),
            (["fuzz", "--target-file", f.badJSON], "bad.json:1:"),
            (["bench", "fuzz", "--budget", "0"], "--budget must be between"),
            (["bench", "replay", "--clients", "0"], "--clients must be between"),
        ]
        if geteuid() != 0 {
            // Permission checks mean nothing to root, who may read anything.
            cases.append((["simulate", "--profile", f.dir + "/unreadable.jsonl"], "permission denied"))
        }
        return cases
    }

    /// Text the platform's file and JSON layers produce, which must never reach a user.
    static let foundationText = ["NSCocoaErrorDomain", "Error Domain=", "UserInfo=", "The given data was not valid JSON",
                                 "The file doesn’t exist", "The file doesn't exist", "The operation could not be completed",
                                 "errno 22", "NSPOSIXErrorDomain", "Fatal error"]

    @Test func everyCommandAnswersBadInputWithOnePlainLineAndStatusTwo() throws {
        let files = try Files()
        defer { files.remove() }
        if geteuid() != 0 {
            let path = files.dir + "/unreadable.jsonl"
            try Data("x".utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0)
        }
        var covered: Set<String> = []
        for (arguments, mentions) in Self.errorCases(files) {
            let run = try Self.mcsec(arguments)
            let command = arguments.first == "bench" ? arguments.prefix(2).joined(separator: " ") : arguments[0]
            covered.insert(command)
            #expect(run.status == 2, "\(arguments): status \(String(describing: run.status)); \(run.stderr)")
            let lines = run.stderr.split(separator: "\n").filter { !$0.contains(": warning: ") }
            #expect(lines.count == 1, "\(arguments): \(run.stderr)")
            let line = String(lines.first ?? "")
            // mcsec <command>: what: why
            let prefix = "mcsec \(command): "
            #expect(line.hasPrefix(prefix), "\(arguments): \(line)")
            #expect(line.dropFirst(prefix.count).contains(": ") || line.contains(" must ") || line.contains(" expects "), "\(arguments): no 'what: why' in \(line)")
            #expect(line.contains(mentions), "\(arguments): expected '\(mentions)' in \(line)")
            for text in Self.foundationText {
                #expect(!run.stderr.contains(text), "\(arguments): platform error text '\(text)' in \(run.stderr)")
            }
        }
        // Every command is driven through its error paths.
        let all = Set(try Self.commands().map { $0.joined(separator: " ") })
        #expect(covered == all, "not covered: \(all.subtracting(covered).sorted())")
    }

    /// Relative output paths of one character ("o") once crashed the path check before any
    /// work (the toolchain's NSString.deletingLastPathComponent traps on them).
    @Test func shortRelativeOutputPathsAreCheckedWithoutCrashing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mcsec-paths-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let profile = TestPaths.packageRoot.appendingPathComponent("Fixtures/profiles/crossing-limits.jsonl").path
        let run = try Self.mcsec(["simulate", "--profile", profile, "--out-dir", "o"], in: directory)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("o/summary.json").path))
        let file = try Self.mcsec(["profile", "--from", profile, "--out", "p"], in: directory)
        #expect(file.status == 0, "\(file.stderr)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("p").path))
    }

    @Test func anUnknownEnvKeyIsWarnedAboutWithTheNearestKnownOne() throws {
        let check = try Self.mcsec(["check", "--over-http", "--env", "RATE_LIMT_BACKEND=redis", "--list"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stderr.contains("mcsec check: warning: --env RATE_LIMT_BACKEND is not a variable mcsec reads; did you mean RATE_LIMIT_BACKEND?"), "\(check.stderr)")
        let serve = try ServeProcess.start(arguments: ["--env", "TRUSTED_PROXY=127.0.0.1"])
        defer { serve.process.terminate() }
        // Written before the listening line, but read from stderr by another thread.
        let deadline = Date().addingTimeInterval(10)
        while !serve.process.stderr.contains("TRUSTED_PROXIES?") && Date() < deadline { usleep(10_000) }
        #expect(serve.process.stderr.contains("mcsec serve: warning: --env TRUSTED_PROXY is not a variable mcsec reads; did you mean TRUSTED_PROXIES?"),
                "\(serve.process.stderr)")
        // A documented key is not warned about.
        let known = try Self.mcsec(["check", "--over-http", "--env", "RATE_LIMIT_BACKEND=memory", "--list"])
        #expect(!known.stderr.contains("warning"), "\(known.stderr)")
    }

    @Test func signReadsTheSecretFromAFileOrTheEnvironmentAsWellAsTheCommandLine() throws {
        let files = try Files()
        defer { files.remove() }
        let secretFile = files.dir + "/secret"
        try Data("it-is-a-secret\n".utf8).write(to: URL(fileURLWithPath: secretFile))
        let byOption = try Self.mcsec(["sign", "--secret", "it-is-a-secret", files.profile])
        #expect(byOption.status == 0 && byOption.stdout.hasPrefix("X-Hub-Signature-256: sha256="), "\(byOption.stderr)")
        let byFile = try Self.mcsec(["sign", "--secret-file", secretFile, files.profile])
        #expect(byFile.status == 0 && byFile.stdout == byOption.stdout, "\(byFile.stdout) \(byFile.stderr)")
        let byEnvironment = try Self.mcsec(["sign", files.profile], environment: ["MCSEC_WEBHOOK_SECRET": "it-is-a-secret"])
        #expect(byEnvironment.status == 0 && byEnvironment.stdout == byOption.stdout, "\(byEnvironment.stderr)")
        // A different secret gives a different signature (the variable is really read).
        let other = try Self.mcsec(["sign", files.profile], environment: ["MCSEC_WEBHOOK_SECRET": "another"])
        #expect(other.status == 0 && other.stdout != byOption.stdout)
        let both = try Self.mcsec(["sign", "--secret", "a", "--secret-file", secretFile, files.profile])
        #expect(both.status == 2 && both.stderr.contains("give one"))
        #expect(try Self.mcsec(["help", "sign"]).stdout.contains("visible"), "the help says --secret shows in ps")
    }

    @Test func benchmarksReportTheSpreadAndExitZeroWhateverTheVerdict() throws {
        let run = try Self.mcsec(["bench", "check", "--runs", "2", "--skip-http"], timeout: 300)
        #expect(run.status == 0, "\(run.stderr)")
        let line = try #require(run.stdout.split(separator: "\n").first { $0.hasPrefix("in-process:") }, "\(run.stdout)")
        #expect(line.contains("spread") && line.contains("over 2 rounds"), "\(line)")
        #expect(line.contains("target < 2 s: met)") || line.contains("target < 2 s: NOT met)") || line.contains("target < 2 s: inconclusive (spread "), "\(line)")
    }

    @Test func readmeCommandsUseOnlyOptionsTheirHelpDocuments() throws {
        let readme = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        var helps: [String: Set<String>] = [:]
        var checked = 0
        // Commands in indented code blocks, with continuation lines joined.
        var logical: [String] = []
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) where line.hasPrefix("    ") {
            let text = String(line.dropFirst(4))
            if let last = logical.last, last.hasSuffix("\\") { logical[logical.count - 1] = String(last.dropLast()) + " " + text } else { logical.append(text) }
        }
        for line in logical {
            let code = String(line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            guard let range = code.range(of: "mcsec ") else { continue }
            let words = code[range.upperBound...].split(separator: " ").map(String.init)
            guard let first = words.first, first.first?.isLetter == true else { continue }
            let path = first == "bench" && words.count > 1 ? ["bench", words[1]] : [first]
            let key = path.joined(separator: " ")
            if helps[key] == nil {
                let help = try Self.mcsec(["help"] + path)
                try #require(help.status == 0, "README names '\(key)', which has no help: \(help.stderr)")
                helps[key] = Self.parseHelp(help.stdout + "\n").usage
            }
            // Options of this command only (up to a pipe or the next command).
            let own = code[range.upperBound...].split(whereSeparator: { $0 == "|" || $0 == ")" || $0 == "&" }).first.map(String.init) ?? ""
            let used = Self.optionNames(own.components(separatedBy: "$(").first ?? own)
            for option in used {
                #expect(helps[key]!.contains(option), "README: 'mcsec \(key)' with --\(option), which its help does not list: \(line)")
            }
            checked += 1
        }
        #expect(checked >= 15, "README commands checked: \(checked)")
    }

    /// A shell variable an example uses is set in the same example before it, so a first run
    /// can be pasted as it stands.
    @Test func readmeExamplesDefineEveryVariableTheyUse() throws {
        let readme = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        var blocks: [[String]] = [[]]
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("    ") { blocks[blocks.count - 1].append(String(line.dropFirst(4))) } else if !blocks[blocks.count - 1].isEmpty { blocks.append([]) }
        }
        var uses = 0
        for block in blocks {
            var defined: Set<String> = []
            for line in block {
                let code = String(line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                var rest = Substring(code)
                while let dollar = rest.firstIndex(of: "$") {
                    let name = rest[rest.index(after: dollar)...].prefix { $0.isUppercase || $0 == "_" || $0.isNumber }
                    if !name.isEmpty {
                        uses += 1
                        #expect(defined.contains(String(name)), "README: $\(name) is used before it is set in its example: \(line)")
                    }
                    rest = rest[rest.index(after: dollar)...]
                }
                // NAME=value at the start of a line (or of a command after ';' / '&&').
                for part in code.split(whereSeparator: { $0 == ";" || $0 == "&" }) {
                    let word = part.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? ""
                    if let eq = word.firstIndex(of: "="), word[..<eq].allSatisfy({ $0.isUppercase || $0 == "_" }), eq != word.startIndex {
                        defined.insert(String(word[..<eq]))
                    }
                }
            }
        }
        #expect(uses >= 2, "README variable uses checked: \(uses)")
    }

    /// A one-minute profile at 50 requests/s from a few clients, written to a temporary file.
    static func longProfile(_ files: Files) throws -> String {
        let path = files.dir + "/long.jsonl"
        let run = try mcsec(["profile", "--shape", "constant", "--rate", "50", "--duration", "60s", "--clients", "20", "--out", path])
        try #require(run.status == 0, "\(run.stderr)")
        return path
    }

    /// Starts `mcsec replay` of `profile` against `serve` and returns once it is sending.
    static func startReplay(_ profile: String, _ serve: ServeProcess, _ extra: [String] = []) throws -> ChildProcess {
        let binary = try #require(TestPaths.mcsecBinary)
        let replay = try ChildProcess(executable: binary, arguments: ["replay", "--profile", profile, "--target", serve.baseURL] + extra)
        let deadline = Date().addingTimeInterval(30)
        while !replay.stderr.contains("mcsec replay: 3000 events") && replay.isRunning && Date() < deadline { usleep(10_000) }
        try #require(replay.stderr.contains("mcsec replay: 3000 events"), "\(replay.stderr)")
        // Some events have gone out (the schedule has started) by the time of the signal.
        usleep(1_500_000)
        return replay
    }

    @Test func ctrlCDuringReplayPrintsThePartialSummary() throws {
        let files = try Files()
        defer { files.remove() }
        let profile = try Self.longProfile(files)
        let serve = try ServeProcess.start()
        defer { serve.process.terminate() }
        let replay = try Self.startReplay(profile, serve)
        defer { replay.terminate() }
        replay.send(signal: SIGINT)
        let status = replay.waitForExit(timeout: 30)
        #expect(status == 128 + SIGINT, "\(replay.stderr)")
        let out = replay.stdoutLines.joined(separator: "\n")
        #expect(out.contains("replay stopped early (interrupted)"), "\(out)")
        #expect(out.contains("lateness (actual − scheduled send time): p50"), "\(out)")
        // What was sent is compared; the rest is counted as not sent, not as failures.
        let first = try #require(replay.stdoutLines.first { $0.hasPrefix("replay stopped early") })
        let sent = try #require(first.split(separator: " ").compactMap { Int($0) }.first)
        #expect(sent > 0 && sent < 3000, "\(first)")
        #expect(out.contains("compared \(sent) events"), "\(out)")
        #expect(out.contains("\(3000 - sent) not sent"), "\(out)")
        #expect(!out.contains("without an answer"), "\(out)")
    }

    @Test func replayStopsWhenNothingAnswersForTheTimeout() throws {
        let files = try Files()
        defer { files.remove() }
        let profile = try Self.longProfile(files)
        let serve = try ServeProcess.start()
        defer { serve.process.terminate() }
        let replay = try Self.startReplay(profile, serve, ["--timeout", "1"])
        defer { replay.terminate() }
        serve.process.terminate()
        let status = replay.waitForExit(timeout: 50)
        #expect(status == 2, "\(replay.stderr)")
        #expect(replay.stderr.contains("mcsec replay: stopped early: no request was answered for 1 s (--timeout)"), "\(replay.stderr)")
        #expect(replay.stdoutLines.contains { $0.hasPrefix("replay stopped early (no request was answered") }, "\(replay.stdoutLines)")
    }
}
