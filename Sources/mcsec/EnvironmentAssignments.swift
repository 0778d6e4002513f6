import Foundation
import Reference

/// `--env KEY=VALUE` of `serve` and `check --over-http`: one parser for both. A key that is not
/// one of the documented variables is kept (the environment may carry others) but warned
/// about, naming the nearest documented one, since a misspelt key silently means a default.
enum EnvironmentAssignments {
    /// The assignments as a dictionary (a later KEY overrides an earlier one); `warn` receives
    /// one line per unknown key.
    static func parse(_ assignments: [String], warn: (String) -> Void) throws -> [String: String] {
        var environment: [String: String] = [:]
        for assignment in assignments {
            guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                throw UsageError("--env expects KEY=VALUE, got '\(assignment)'")
            }
            let key = String(assignment[..<eq])
            if !Configuration.variables.contains(key) {
                let hint = Nearest.name(to: key, in: Configuration.variables).map { "; did you mean \($0)?" } ?? ""
                warn("--env \(key) is not a variable mcsec reads\(hint) (known: \(Configuration.variables.joined(separator: ", ")))")
            }
            environment[key] = String(assignment[assignment.index(after: eq)...])
        }
        return environment
    }

    /// Warnings go to stderr prefixed with the command.
    static func stderrWarning(_ command: String) -> (String) -> Void {
        { line in FileHandle.standardError.write(Data("mcsec \(command): warning: \(line)\n".utf8)) }
    }
}
