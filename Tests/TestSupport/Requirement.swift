import Foundation
import Testing
import Wire

/// Programs the tests use as independent peers or backends. `scripts/test` installs them (the
/// Debian package is `package`); a test that needs one declares it with `.requires(_:)`.
public enum ExternalTool: String, Sendable, CaseIterable {
    case redisServer = "redis-server"
    case openssl
    case curl
    case nginx
    case node
    /// Locust's command, for replaying exported profiles in its distributed mode.
    case locust

    /// The Debian package that provides the program.
    public var package: String {
        switch self {
        case .node: return "nodejs"
        case .locust: return "python3-locust"
        default: return rawValue
        }
    }

    /// The executable, when this machine has one.
    public var executable: URL? { ChildProcess.findExecutable(rawValue) }

    public var isAvailable: Bool { executable != nil }

    /// Why a test that needs the program cannot run, and what to do about it.
    public var missingReason: String {
        "no \(rawValue) on PATH: install it (apt-get install \(package)) or run scripts/test, which does"
    }
}

public enum TestEnvironment {
    /// True under CI (`CI=true`, as `.ci/run` sets it and CI services do): a missing
    /// prerequisite is then a failure, not a skip, so a run cannot pass by not testing.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The name a skip or failure line gives a test: its suite path and name, without the
    /// source location.
    public static func name(of test: Test) -> String {
        let components = test.id.nameComponents.filter { !$0.contains(".swift:") }
        return ([test.id.moduleName] + components).joined(separator: ".")
    }

    /// Prints the line `scripts/test` collects into its summary of skipped tests.
    public static func reportSkip(_ test: Test, reason: String) {
        FileHandle.standardError.write(Data("skipped: \(name(of: test)): \(reason)\n".utf8))
    }
}

/// A prerequisite of a test or suite (a program on PATH, a built binary). When it is missing,
/// the test is skipped with the reason printed ("skipped: <test>: <reason>"), except under CI,
/// where the test fails with that reason instead.
public struct Requirement: TestTrait, SuiteTrait {
    /// nil when the prerequisite is met, otherwise why it is not.
    let unmetReason: @Sendable () -> String?

    public init(unmetReason: @escaping @Sendable () -> String?) {
        self.unmetReason = unmetReason
    }

    public var isRecursive: Bool { true }

    public func prepare(for test: Test) async throws {
        guard let reason = unmetReason() else { return }
        if TestEnvironment.isCI {
            throw RequirementMissing(description: "\(reason) (CI=true: a missing prerequisite fails the run instead of skipping the test)")
        }
        // A skipped suite skips each of its tests, which report themselves.
        if !test.isSuite { TestEnvironment.reportSkip(test, reason: reason) }
        // The same skip as `.enabled(if: false)`, with the reason in the test report.
        try await ConditionTrait.disabled(Comment(rawValue: reason)).prepare(for: test)
    }
}

/// A prerequisite that is missing under CI.
public struct RequirementMissing: Error, CustomStringConvertible {
    public var description: String
}

extension Trait where Self == Requirement {
    /// The test needs `tool` on PATH.
    public static func requires(_ tool: ExternalTool) -> Self {
        Requirement { tool.isAvailable ? nil : tool.missingReason }
    }

    /// The test spawns the `mcsec` executable built beside it.
    public static var requiresMcsecBinary: Self {
        Requirement { TestPaths.mcsecBinary == nil ? "the mcsec binary is not built; run 'swift build' first" : nil }
    }
}
