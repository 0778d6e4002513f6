#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One subcommand of the tool.
struct Command: Sendable {
    let name: String
    let summary: String
    /// Runs with the arguments after the command name; returns the exit status.
    let run: @Sendable ([String]) throws -> Int32
}

enum Tool {
    static let commands: [Command] = [
        Command(name: "check", summary: "run the conformance suites (default: against the embedded reference)", run: CheckCommand.run),
        Command(name: "serve", summary: "serve the reference service over HTTP/1.1", run: ServeCommand.run),
        Command(name: "sign", summary: "print the webhook signature header for a body", run: SignCommand.run),
        Command(name: "profile", summary: "generate a deterministic load profile", run: ProfileCommand.run),
        Command(name: "simulate", summary: "predict what a deployment answers to a load profile", run: SimulateCommand.run),
        Command(name: "replay", summary: "replay a profile against a live server and compare with the prediction", run: ReplayCommand.run),
        Command(name: "fuzz", summary: "send generated requests to a server and to the reference configured as it; report differences", run: FuzzCommand.run),
        Command(name: "bench", summary: "measure performance (limiter, hmac, redis, …)", run: BenchCommand.run),
    ]

    static var usage: String {
        var text = """
        mcsec: make the Mission Control security reference executable and checkable.

        usage: mcsec <command> [options]      (mcsec <command> --help for details)

        commands:

        """
        for command in commands {
            text += "  " + command.name.padding(toLength: 10, withPad: " ", startingAt: 0) + command.summary + "\n"
        }
        text += "\nexit status: 0 success or all checks passed, 1 failures found, 2 usage or input error\n"
        return text
    }

    static func fail(_ message: String, status: Int32 = 2) -> Never {
        FileHandle.standardError.write(Data("mcsec: \(message)\n".utf8))
        exit(status)
    }

    static func main(_ argv: [String]) -> Never {
        // A write to a closed socket or pipe must be an error return, never a process-killing signal.
        signal(SIGPIPE, SIG_IGN)
        guard let name = argv.first else {
            FileHandle.standardError.write(Data(usage.utf8))
            exit(2)
        }
        if name == "--help" || name == "-h" || name == "help" {
            FileHandle.standardOutput.write(Data(usage.utf8))
            exit(0)
        }
        guard let command = commands.first(where: { $0.name == name }) else {
            fail("unknown command '\(name)'; run 'mcsec --help' for the list")
        }
        do {
            exit(try command.run(Array(argv.dropFirst())))
        } catch {
            fail("\(command.name): \(error)")
        }
    }
}

Tool.main(Array(CommandLine.arguments.dropFirst()))
