#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The version of this tool: printed by `mcsec --version` and written into every JSON report.
enum Version {
    static let text = "0.9.0"
}

/// The version written into JSON reports, so that an archived report says what produced it.
enum VersionStamp {
    /// `json` (one object) with `"mcsec_version"` as its first member.
    static func json(_ json: String) -> String {
        guard let brace = json.firstIndex(of: "{") else { return json }
        let rest = json[json.index(after: brace)...]
        let empty = rest.drop(while: { $0 == " " || $0 == "\n" }).first == "}"
        return String(json[...brace]) + "\"mcsec_version\": \"\(Version.text)\"" + (empty ? "" : ", ") + rest
    }

    /// Stamps the JSON report files among `paths` (written by the simulator's report writer).
    static func files(_ paths: [String]) {
        for path in paths where path.hasSuffix(".json") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            try? json(text).write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
}

/// One command or a group of commands (`bench`). The whole tree is one table, walked by one
/// dispatcher; a new command is one more entry.
struct Command: Sendable {
    enum Body: Sendable {
        /// Parsed with the table of `CommandHelp`, then run; returns the exit status.
        case leaf(CommandHelp, @Sendable (Arguments) throws -> Int32)
        case group(note: String, [Command])
    }

    let name: String
    let summary: String
    let body: Body

    static func leaf(_ name: String, _ summary: String, _ help: CommandHelp, _ run: @escaping @Sendable (Arguments) throws -> Int32) -> Command {
        Command(name: name, summary: summary, body: .leaf(help, run))
    }
}

enum Tool {
    static let commands: [Command] = [
        .leaf("check", "run the conformance suites (default: against the embedded reference)", CheckCommand.help, CheckCommand.run),
        .leaf("serve", "serve the reference service over HTTP/1.1", ServeCommand.help, ServeCommand.run),
        .leaf("sign", "print the webhook signature header for a body", SignCommand.help, SignCommand.run),
        .leaf("profile", "generate a deterministic load profile", ProfileCommand.help, ProfileCommand.run),
        .leaf("simulate", "predict what a deployment answers to a load profile", SimulateCommand.help, SimulateCommand.run),
        .leaf("replay", "replay a profile against a live server and compare with the prediction", ReplayCommand.help, ReplayCommand.run),
        .leaf("fuzz", "send generated requests to a server and to the reference configured as it; report differences", FuzzCommand.help, FuzzCommand.run),
        Command(name: "bench", summary: "measure performance (" + BenchCommand.benchmarks.map(\.name).joined(separator: ", ") + ")", body: .group(note: BenchCommand.note, BenchCommand.benchmarks)),
    ]

    static let exitStatuses = """
    exit status: 0 success or all checks passed; 1 failures found (a check or replay found the
    server deviating); 2 usage or input error, or a target, server or Redis that cannot be
    reached; 128+N killed by signal N (130 after Ctrl-C). Benchmarks exit 0 once they have
    measured, whether or not a target was met (they report, they do not judge).
    """

    /// The list of commands of a group.
    static func usage(path: [String], commands: [Command], note: String) -> String {
        let name = (["mcsec"] + path).joined(separator: " ")
        var text = path.isEmpty ? "mcsec \(Version.text): make the Mission Control security reference executable and checkable.\n\n" : ""
        text += "usage: \(name) <command> [options]      (mcsec help \((path + ["<command>"]).joined(separator: " ")) for details)\n"
        if path.isEmpty { text += "       mcsec --version\n" }
        text += note.isEmpty ? "\n" : "\n" + note + "\n\n"
        text += "commands:\n"
        for command in commands {
            text += "  " + command.name.padding(toLength: 10, withPad: " ", startingAt: 0) + command.summary + "\n"
        }
        if path.isEmpty { text += "\n" + exitStatuses + "\n" }
        return text
    }

    static func write(_ text: String, to fd: Int32) {
        (fd == 1 ? FileHandle.standardOutput : FileHandle.standardError).write(Data(text.utf8))
    }

    /// Prints `mcsec <command>: message` on stderr and exits with `status`.
    static func fail(_ command: [String], _ message: String, status: Int32 = 2) -> Never {
        InterruptCleanup.holdIfInterrupted()
        write((["mcsec"] + command).joined(separator: " ") + ": " + message + "\n", to: 2)
        exit(status)
    }

    /// An error as one plain line: the platform's file errors in words, never its error dump.
    static func message(_ error: any Error) -> String {
        if error is CocoaError || error is POSIXError || type(of: error) == NSError.self {
            return PathCheck.plain(error)
        }
        return "\(error)".split(whereSeparator: \.isNewline).joined(separator: "; ")
    }

    /// Finds the command `args` names in `commands` and runs it.
    static func dispatch(_ args: [String], path: [String], commands: [Command], note: String) -> Never {
        guard let name = args.first else {
            write(usage(path: path, commands: commands, note: note), to: 2)
            exit(2)
        }
        if name == "--help" || name == "-h" {
            write(usage(path: path, commands: commands, note: note), to: 1)
            exit(0)
        }
        if path.isEmpty && name == "--version" {
            write("mcsec \(Version.text)\n", to: 1)
            exit(0)
        }
        if path.isEmpty && name == "help" {
            help(Array(args.dropFirst()))
        }
        guard let command = commands.first(where: { $0.name == name }) else {
            let hint = Nearest.name(to: name, in: commands.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
            fail(path, "unknown command '\(name)'\(hint); run '\((["mcsec"] + path).joined(separator: " ")) --help' for the list")
        }
        let rest = Array(args.dropFirst())
        let here = path + [name]
        switch command.body {
        case .group(let note, let subcommands):
            dispatch(rest, path: here, commands: subcommands, note: note)
        case .leaf(let help, let run):
            do {
                let arguments = try Arguments(rest, help)
                if arguments.wantsHelp {
                    write(help.text, to: 1)
                    exit(0)
                }
                try arguments.checkPaths(help)
                let status = try run(arguments)
                InterruptCleanup.holdIfInterrupted()
                exit(status)
            } catch {
                fail(here, message(error))
            }
        }
    }

    /// `mcsec help [command [subcommand]]`: the same text as `--help` of that command.
    static func help(_ words: [String]) -> Never {
        var commands = self.commands
        var note = ""
        var path: [String] = []
        for word in words {
            guard let command = commands.first(where: { $0.name == word }) else {
                fail(["help"], "no command '\((path + [word]).joined(separator: " "))'; run 'mcsec --help' for the list")
            }
            path.append(word)
            switch command.body {
            case .leaf(let help, _):
                guard word == words.last else { fail(["help"], "'\(path.joined(separator: " "))' has no subcommands") }
                write(help.text, to: 1)
                exit(0)
            case .group(let groupNote, let subcommands):
                commands = subcommands
                note = groupNote
            }
        }
        write(usage(path: path, commands: commands, note: note), to: 1)
        exit(0)
    }

    static func main(_ argv: [String]) -> Never {
        // A write to a closed socket or pipe must be an error return, never a process-killing signal.
        signal(SIGPIPE, SIG_IGN)
        dispatch(argv, path: [], commands: commands, note: "")
    }

    /// Every leaf command with its path, for the tests of help texts and for `help`.
    static func leaves(_ commands: [Command] = Tool.commands, path: [String] = []) -> [(path: [String], help: CommandHelp)] {
        commands.flatMap { command -> [(path: [String], help: CommandHelp)] in
            switch command.body {
            case .leaf(let help, _): return [(path + [command.name], help)]
            case .group(_, let subcommands): return leaves(subcommands, path: path + [command.name])
            }
        }
    }
}

Tool.main(Array(CommandLine.arguments.dropFirst()))
