import Foundation

/// Where the package's data files (`Fixtures/`) are found at run time.
public enum BundledData {
    /// The environment variable that points at a `Fixtures` directory, for a binary run away
    /// from its source tree.
    public static let environmentVariable = "MCSEC_FIXTURES"

    /// `$MCSEC_FIXTURES` when set and non-empty; otherwise the `Fixtures/` directory of the
    /// package this file was compiled from (located from the source path, which is right for
    /// `swift run`, `swift test` and a binary built in place).
    public static var fixturesDirectory: URL {
        if let override = ProcessInfo.processInfo.environment[environmentVariable], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Reference
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent()  // package root
            .appendingPathComponent("Fixtures", isDirectory: true)
    }
}
