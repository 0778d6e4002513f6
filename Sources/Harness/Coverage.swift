/// How much of a run ran: counts per section of the page, and the gates CI sets on them
/// (`--min-passed N`, `--fail-on-skip SECTION…`), so that "almost everything skipped" cannot
/// pass a build.
public struct SectionCounts: Sendable, Equatable {
    public var prefix: String
    public var title: String
    public var counts: RunCounts

    /// Results that ran (anything but a skip).
    public var ran: Int { counts.passed + counts.failed + counts.deviations + counts.informational }
}

extension RunReport {
    /// Counts for every section of the catalog that has a result, in catalog order.
    public var sectionCounts: [SectionCounts] {
        var by: [String: RunCounts] = [:]
        for r in results {
            by[r.section, default: RunCounts()].add(r.verdict)
        }
        return catalog.sections.compactMap { s in by[s.prefix].map { SectionCounts(prefix: s.prefix, title: s.title, counts: $0) } }
    }

    /// A warning when most fixtures were skipped: a run that "passes" that way says little.
    public var skipWarning: String? {
        let c = counts
        let total = c.passed + c.failed + c.deviations + c.skipped + c.informational
        guard total > 0, c.skipped * 2 > total else { return nil }
        return "warning: \(c.skipped) of \(total) fixtures were skipped; a run that passes this way says little about the target (the skip reasons say what each needs: target-file entries, --allow-waits, --inject-faults, source addresses)"
    }
}

/// CI's conditions on coverage.
public struct CoverageGate: Sendable, Equatable {
    /// At least this many results must pass (informational ones count: they ran and held).
    public var minPassed: Int?
    /// Section prefixes in which no fixture may be skipped.
    public var failOnSkip: [String] = []

    public init(minPassed: Int? = nil, failOnSkip: [String] = []) {
        self.minPassed = minPassed
        self.failOnSkip = failOnSkip
    }

    public var isEmpty: Bool { minPassed == nil && failOnSkip.isEmpty }

    /// Why the run does not meet the gate (empty when it does).
    public func violations(_ report: RunReport) -> [String] {
        var out: [String] = []
        let c = report.counts
        if let minPassed, c.passed + c.informational < minPassed {
            out.append("--min-passed \(minPassed): only \(c.passed + c.informational) passed (\(c.skipped) skipped)")
        }
        let sections = report.sectionCounts
        for prefix in failOnSkip {
            let skipped = report.results.filter { $0.section == prefix && $0.verdict == .skip }
            guard !skipped.isEmpty else { continue }
            let title = sections.first { $0.prefix == prefix }?.title ?? prefix
            let shown = skipped.prefix(5).map { "\($0.id) (\($0.skipReason ?? "skipped"))" }.joined(separator: "; ")
            out.append("--fail-on-skip \(prefix): \(skipped.count) fixture\(skipped.count == 1 ? "" : "s") of \(title) skipped: \(shown)\(skipped.count > 5 ? "; …" : "")")
        }
        return out
    }
}
