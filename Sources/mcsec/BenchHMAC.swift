import Foundation
import Wire

/// `mcsec bench hmac`: SHA-256 and HMAC-SHA256 throughput for each available implementation.
///
/// HMAC is measured the way the webhook check uses it: a fresh key schedule, the body, and the
/// finalisation per message, so small bodies show the fixed cost of the four extra blocks.
enum BenchHMAC {
    static let help = CommandHelp(
        path: "bench hmac",
        about: """
        Prints SHA-256 and HMAC-SHA256 throughput in MB/s (10^6 bytes per second) on bodies of each
        size, for each SHA-256 implementation this CPU supports: the best of --rounds rounds, with
        the spread between them. Build with -c release.
        """,
        options: [
            .valued("size", "BYTES", "body size; repeatable; suffixes K, KiB, M, MiB (default 1MiB, 1KiB, 64)"),
            .valued("seconds", "S", "time spent on each measurement, all rounds together (default 1, at most 60)"),
            .valued("rounds", "N", "rounds of each measurement (default 3)"),
            .valued("implementation", "NAME", "portable, shaExtensions or all (default all)"),
            .flag("openssl", "also print 'openssl speed' for sha256 at the same sizes, if installed"),
            .valued("json", "FILE", "also write the figures as JSON (for CI to archive and compare)", kind: .outputFile),
        ])

    static func run(_ arguments: Arguments) throws -> Int32 {
        try arguments.noPositionals()
        let sizes = try arguments.values("size").map(parseSize)
        let bodySizes = sizes.isEmpty ? [1 << 20, 1 << 10, 64] : sizes
        guard let seconds = try arguments.double("seconds", default: 1), seconds > 0, seconds <= 60 else {
            throw UsageError("--seconds must be more than 0 and at most 60")
        }
        let implementations: [SHA256.Implementation]
        switch arguments.value("implementation") ?? "all" {
        case "all": implementations = SHA256.Implementation.available
        case let name:
            guard let chosen = SHA256.Implementation(rawValue: name) else {
                throw UsageError("--implementation must be portable, shaExtensions or all, got '\(name)'")
            }
            guard chosen.isSupported else {
                throw UsageError("this CPU cannot run the '\(name)' implementation; try --implementation portable")
            }
            implementations = [chosen]
        }

        let rounds = try arguments.int("rounds", default: 3, range: 1...20) ?? 3
        let record = try BenchRecord(benchmark: "hmac", arguments: arguments.raw, path: arguments.value("json"))
        #if DEBUG
        print("note: this is a debug build; run 'swift run -c release mcsec bench hmac' for real figures")
        #endif
        print("SHA-256 implementations on this CPU: \(SHA256.Implementation.available.map(\.rawValue).joined(separator: ", ")) (default: \(SHA256.Implementation.preferred.rawValue))")
        print("")
        print(pad("implementation", 16) + pad("body", 10) + pad("SHA-256 MB/s", 14) + pad("HMAC MB/s", 12) + pad("HMAC messages/s", 17) + "spread")
        for implementation in implementations {
            for size in bodySizes {
                let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
                let key = Array("bench-webhook-secret".utf8)
                var hashes: [Rate] = [], macs: [Rate] = []
                // Interleaved rounds, so that both see the same machine.
                for _ in 0..<rounds {
                    hashes.append(measure(seconds: seconds / Double(rounds), bytesPerCall: size) {
                        body.withUnsafeBytes { buffer in
                            var hasher = SHA256(implementation: implementation)
                            hasher.update(buffer)
                            return hasher.finalize()[0]
                        }
                    })
                    macs.append(measure(seconds: seconds / Double(rounds), bytesPerCall: size) {
                        body.withUnsafeBytes { buffer in
                            var hmac = HMACSHA256(key: key, implementation: implementation)
                            hmac.update(buffer)
                            return hmac.finalize()[0]
                        }
                    })
                }
                let hash = hashes.max { $0.megabytesPerSecond < $1.megabytesPerSecond }!
                let mac = macs.max { $0.megabytesPerSecond < $1.megabytesPerSecond }!
                let spread = max(Rounds(hashes.map(\.megabytesPerSecond)).spread, Rounds(macs.map(\.megabytesPerSecond)).spread)
                record.add("\(implementation.rawValue).\(size)", ("body_bytes", .number(Double(size))),
                           ("sha256_megabytes_per_second", .number(hash.megabytesPerSecond)),
                           ("hmac_megabytes_per_second", .number(mac.megabytesPerSecond)),
                           ("hmac_messages_per_second", .number(mac.callsPerSecond)), ("spread", .number(spread)))
                print(pad(implementation.rawValue, 16) + pad(describe(size), 10)
                      + pad(format(hash.megabytesPerSecond), 14) + pad(format(mac.megabytesPerSecond), 12)
                      + pad(format(mac.callsPerSecond), 17) + (rounds > 1 ? String(format: "%.1f%%", spread * 100) : "-"))
            }
        }
        if arguments.flag("openssl") {
            try runOpenSSL(sizes: bodySizes, seconds: seconds, into: record)
        }
        try record.write()
        return 0
    }

    struct Rate {
        var megabytesPerSecond: Double
        var callsPerSecond: Double
    }

    /// Calls `body` repeatedly for about `seconds` and returns the rate. The returned bytes are
    /// folded into a value that is printed only if impossible, so the work cannot be optimised away.
    static func measure(seconds: Double, bytesPerCall: Int, _ body: () -> UInt8) -> Rate {
        var sink: UInt8 = 0
        // Warm up (page in the body, settle the CPU clock) before timing.
        let warmUpEnd = DispatchTime.now().uptimeNanoseconds + UInt64(min(seconds, 0.2) * 1e9)
        while DispatchTime.now().uptimeNanoseconds < warmUpEnd { sink ^= body() }
        var calls = 0
        let start = DispatchTime.now().uptimeNanoseconds
        let budget = UInt64(seconds * 1e9)
        var elapsed: UInt64 = 0
        repeat {
            // Check the clock every few calls so the timer itself is not what gets measured.
            for _ in 0..<max(1, 4096 / max(bytesPerCall, 1)) {
                sink ^= body()
                calls += 1
            }
            elapsed = DispatchTime.now().uptimeNanoseconds - start
        } while elapsed < budget
        if sink == 0 && calls == -1 { print("unreachable") }
        let secondsTaken = Double(elapsed) / 1e9
        return Rate(megabytesPerSecond: Double(calls) * Double(bytesPerCall) / secondsTaken / 1e6,
                    callsPerSecond: Double(calls) / secondsTaken)
    }

    /// Parses "1048576", "1MiB", "1M", "64K", "1KiB".
    static func parseSize(_ text: String) throws -> Int {
        let units: [(suffix: String, factor: Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("K", 1 << 10), ("M", 1 << 20), ("B", 1)]
        var number = Substring(text)
        var factor = 1
        for unit in units where text.hasSuffix(unit.suffix) {
            number = text.dropLast(unit.suffix.count)
            factor = unit.factor
            break
        }
        let limit = 256 << 20
        guard let n = Int(number), n > 0, n <= limit / factor else {
            throw UsageError("--size expects a byte count from 1 to 256MiB such as 64, 1KiB or 1MiB, got '\(text)'")
        }
        return n * factor
    }

    static func describe(_ size: Int) -> String {
        if size >= 1 << 20 && size % (1 << 20) == 0 { return "\(size >> 20) MiB" }
        if size >= 1 << 10 && size % (1 << 10) == 0 { return "\(size >> 10) KiB" }
        return "\(size) B"
    }

    static func format(_ value: Double) -> String {
        value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
    }

    static func pad(_ text: String, _ width: Int) -> String { BenchCommand.pad(text, width) }

    /// `openssl speed` for the same sizes, as an outside yardstick (OpenSSL uses the SHA
    /// extensions too when the CPU has them; OPENSSL_ia32cap can switch them off).
    static func runOpenSSL(sizes: [Int], seconds: Double, into record: BenchRecord) throws {
        guard let path = ExternalTool.find("openssl") else {
            print("\nopenssl: not installed, comparison skipped")
            return
        }
        print("\nopenssl speed -evp sha256 (for comparison):")
        for size in sizes {
            let text = try ExternalTool.output(path, ["speed", "-seconds", String(max(1, Int(seconds.rounded()))), "-bytes", String(size), "-evp", "sha256"])
            let lines = text.split(separator: "\n")
            // The last line is "sha256   <bytes/s in thousands>k".
            if let last = lines.last, let field = last.split(separator: " ").last, field.hasSuffix("k"),
               let thousands = Double(field.dropLast()) {
                record.add("openssl.\(size)", ("body_bytes", .number(Double(size))), ("sha256_megabytes_per_second", .number(thousands / 1000)))
                print("  " + pad(describe(size), 10) + format(thousands / 1000) + " MB/s")
            } else {
                print("  " + pad(describe(size), 10) + "(could not read openssl's output)")
            }
        }
    }
}
