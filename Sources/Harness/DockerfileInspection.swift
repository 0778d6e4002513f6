import Reference

/// What the container fixtures look at in a Dockerfile: the final stage's user (decided by
/// the reference's `ContainerUser` rule), the `--chown` of its COPY/ADD instructions, and its
/// VOLUME declarations.
struct DockerfileInspection {
    let verdict: ContainerUserVerdict
    /// COPY/ADD instructions of the final stage, continuation lines joined.
    let copies: [String]
    let volumes: [String]

    init(text: String) {
        verdict = ContainerUser.check(dockerfile: text)
        var copies: [String] = []
        var volumes: [String] = []
        for instruction in DockerfileInspection.instructions(text) {
            let keyword = instruction.prefix { !$0.isWhitespace }.uppercased()
            let rest = instruction.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces)
            switch keyword {
            case "FROM":
                // A new stage: only the last one is the image that runs.
                copies = []
                volumes = []
            case "COPY", "ADD":
                copies.append(instruction)
            case "VOLUME":
                volumes.append(rest)
            default:
                break
            }
        }
        self.copies = copies
        self.volumes = volumes
    }

    /// Instructions with comments dropped and backslash continuations joined.
    static func instructions(_ text: String) -> [String] {
        var out: [String] = []
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") { continue }
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            pending += line
            let instruction = pending.trimmingCharacters(in: .whitespaces)
            if !instruction.isEmpty { out.append(instruction) }
            pending = ""
        }
        let rest = pending.trimmingCharacters(in: .whitespaces)
        if !rest.isEmpty { out.append(rest) }
        return out
    }

    var verdictName: String {
        switch verdict {
        case .nonRoot: return "nonRoot"
        case .root: return "root"
        case .undetermined: return "undetermined"
        }
    }

    var user: String? {
        if case .nonRoot(let user) = verdict { return user }
        return nil
    }

    var verdictDescription: String {
        switch verdict {
        case .nonRoot(let user): return "final stage runs as \(user)"
        case .root(let reason): return "final stage runs as root: \(reason)"
        case .undetermined(let reason): return "final stage user undetermined: \(reason)"
        }
    }

    /// Final-stage COPY/ADD instructions without `--chown=<owner>` (COPY --from of build
    /// artefacts included: they land owned by root too).
    func copiesWithoutChown(_ owner: String) -> [String] {
        copies.filter { !$0.contains("--chown=\(owner)") }
    }
}
