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
        .library(name: "ReferenceTargets", targets: ["ReferenceTargets"]),
        .library(name: "Simulator", targets: ["Simulator"]),
        .library(name: "TargetFiles", targets: ["TargetFiles"]),
        .library(name: "Fuzz", targets: ["Fuzz"]),
    ],
    targets: [
        // The SHA-256 compression function on the x86 SHA extensions; Wire picks it at run time
        // when the CPU has them and falls back to its portable Swift compression otherwise.
        .target(name: "CSHA256"),
        // A software prefetch, which Swift cannot spell, for the simulator's random-access tables.
        .target(name: "CMemoryHints"),
        .target(name: "Wire", dependencies: ["CSHA256"]),
        // What the security page documents, as data both sides share: the header table, the
        // rate-limit policies, signature header names, the delimiters, the routes. No logic:
        // the reference and the checker each apply them in their own way.
        .target(name: "Spec"),
        // A deployment as a target file describes it (its ids, secrets, configuration, logs), and
        // what its configuration promises, read by the page: shared by the checker and the
        // simulator's replay.
        .target(name: "TargetFiles", dependencies: ["Spec", "Wire"]),
        .target(name: "Reference", dependencies: ["Spec", "TargetFiles", "Wire"]),
        .target(name: "Harness", dependencies: ["Spec", "TargetFiles", "Wire"]),
        // The reference wired up as a target of the checker: in-process, spawned `mcsec serve`
        // processes, and the catalog of the reference's deliberate faults.
        .target(name: "ReferenceTargets", dependencies: ["Harness", "Reference", "Spec", "TargetFiles", "Wire"]),
        .target(name: "Simulator", dependencies: ["CMemoryHints", "Reference", "Spec", "TargetFiles", "Wire"]),
        // Differential exploration: generated requests sent to a live server and to the
        // reference configured as that server, every difference graded by the page.
        .target(name: "Fuzz", dependencies: ["Reference", "Spec", "TargetFiles", "Wire"]),
        .executableTarget(name: "mcsec", dependencies: ["Fuzz", "Simulator", "ReferenceTargets", "Harness", "Reference", "Spec", "TargetFiles", "Wire"]),
        // Shared test infrastructure: paths, free ports, child processes (redis-server, mcsec serve).
        .target(name: "TestSupport", dependencies: ["Wire"], path: "Tests/TestSupport"),
        .testTarget(name: "WireTests", dependencies: ["Wire", "TestSupport"]),
        .testTarget(name: "ReferenceTests", dependencies: ["Reference", "Spec", "Wire", "TestSupport", "TargetFiles"]),
        .testTarget(name: "HarnessTests", dependencies: ["ReferenceTargets", "Harness", "Reference", "Spec", "Wire", "TestSupport", "TargetFiles"]),
        .testTarget(name: "SimulatorTests", dependencies: ["Simulator", "Harness", "Reference", "Spec", "Wire", "TestSupport", "TargetFiles"]),
        .testTarget(name: "FuzzTests", dependencies: ["Fuzz", "Reference", "Spec", "Wire", "TestSupport", "TargetFiles"]),
        .testTarget(name: "Conformance", dependencies: ["ReferenceTargets", "Harness", "Reference", "Spec", "Wire", "TestSupport", "TargetFiles"]),
    ],
    swiftLanguageModes: [.v6]
)
