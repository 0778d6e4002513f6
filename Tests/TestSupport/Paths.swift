import Foundation

/// Locations the tests need: the package root (for `Fixtures/`) and the built `mcsec` binary
/// (for tests that spawn `mcsec serve` as a separate process).
public enum TestPaths {
    /// The package root, derived from this file's location at build time.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TestSupport
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    public static let fixtures: URL = packageRoot.appendingPathComponent("Fixtures")

    /// The `mcsec` executable built beside the test bundle (`swift test` builds every product).
    public static var mcsecBinary: URL? {
        var candidates: [URL] = []
        // The test bundle lives in the same directory as the products of this build.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("mcsec"))
        }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mcsec"))
        for config in ["debug", "release"] {
            candidates.append(packageRoot.appendingPathComponent(".build/\(config)/mcsec"))
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}
