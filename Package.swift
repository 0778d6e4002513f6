// swift-tools-version:6.0
import PackageDescription

// mcsec depends on nothing but the Swift toolchain: every protocol and primitive it needs
// (HTTP/1.1, RESP, SHA-256/HMAC, argument parsing, SVG) is implemented in these targets.
let package = Package(
    name: "mcsec",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mcsec", targets: ["mcsec"]),
        .library(name: "Reference", targets: ["Reference"]),
        .library(name: "Harness", targets: ["Harness"]),
        .library(name: "Simulator", targets: ["Simulator"]),
    ],
    targets: [
        // The SHA-256 compression function on the x86 SHA extensions; Wire picks it at run time
        // when the CPU has them and falls back to its portable Swift compression otherwise.
        .target(name: "CSHA256"),
        .target(name: "Wire", dependencies: ["CSHA256"]),
        .target(name: "Reference", dependencies: ["Wire"]),
        .target(name: "Harness", dependencies: ["Reference", "Wire"]),
        .target(name: "Simulator", dependencies: ["Harness", "Reference", "Wire"]),
        .executableTarget(name: "mcsec", dependencies: ["Simulator", "Harness", "Reference", "Wire"]),
        // Shared test infrastructure: paths, free ports, child processes (redis-server, mcsec serve).
        .target(name: "TestSupport", dependencies: ["Wire"], path: "Tests/TestSupport"),
        .testTarget(name: "WireTests", dependencies: ["Wire", "TestSupport"]),
        .testTarget(name: "ReferenceTests", dependencies: ["Reference", "Wire", "TestSupport"]),
        .testTarget(name: "HarnessTests", dependencies: ["Harness", "Reference", "Wire", "TestSupport"]),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Harness", "Reference", "Wire", "TestSupport"]),
        .testTarget(name: "Conformance", dependencies: ["Harness", "Reference", "Wire", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
