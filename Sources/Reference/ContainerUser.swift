/// What a Dockerfile's final stage runs as.
public enum FinalStageUser: Equatable, Sendable {
    /// The final stage runs as this user (the USER value as written after substitution, e.g.
    /// `appuser`, `1000`, `1000:1000`, `appuser:appgroup`).
    case nonRoot(user: String)
    /// The final stage runs as root; the reason says why (no USER, or USER root / 0).
    case root(reason: String)
    /// The Dockerfile does not say for certain (the user comes from a build ARG, the USER line
    /// is malformed, there is no FROM); the reason names the line and what to change.
    case undetermined(reason: String)
}

/// Container hardening: the images run as a non-root user. Both Mission Control Dockerfiles
/// create a system group `appgroup` and user `appuser`, copy files `--chown=appuser:appgroup`,
/// and end the final stage with `USER appuser`.
///
/// Only the final stage matters (it is the image that runs), and a stage starts from its base
/// image: a USER in an earlier build stage does not carry over, except when the final stage is
/// built `FROM` that earlier stage, which then passes on its user and ENV. Without any USER the
/// container runs as the base image's default, root for the images Mission Control uses.
/// A USER taken from a build ARG is undetermined even with a default: `--build-arg` can
/// replace it at build time, so the file alone does not decide it. A USER from an ENV with a
/// literal value is as good as written out.
public enum ContainerUser {
    /// The verdict for the final stage of `dockerfile`.
    public static func check(dockerfile: String) -> FinalStageUser {
        let (instructions, escape) = DockerfileSyntax.instructions(in: dockerfile)
        var globalArgs: [String: String?] = [:]
        var stages: [Stage] = []

        for instruction in instructions {
            switch instruction.keyword {
            case "FROM":
                let lookup: (String) -> DockerfileBinding? = { name in
                    globalArgs[name].map { .buildArg(name: name, defaultValue: $0) }
                }
                let words = DockerfileSyntax.words(instruction.arguments, escape: escape, lookup: lookup)
                    .filter { !$0.value.hasPrefix("--") }
                var stage = Stage(line: instruction.line)
                guard let image = words.first else {
                    // Docker rejects this; it only matters if the final stage is the broken one.
                    stage.problem = "line \(instruction.line): FROM without an image"
                    stages.append(stage)
                    continue
                }
                if words.count >= 3, words[1].value.lowercased() == "as" {
                    stage.name = words[2].value.lowercased()
                }
                if let base = stages.lastIndex(where: { $0.name == image.value.lowercased() }) {
                    // Built on an earlier stage: its ENV (and its USER, looked up later) carry over.
                    stage.base = base
                    stage.bindings = stages[base].bindings.filter {
                        if case .env = $0.value { return true } else { return false }
                    }
                }
                stage.baseBuildArgs = image.buildArgs
                stages.append(stage)
            case "ARG":
                let inStage = !stages.isEmpty
                let lookup: (String) -> DockerfileBinding? = { name in
                    inStage ? stages[stages.count - 1].bindings[name] : globalArgs[name].map { .buildArg(name: name, defaultValue: $0) }
                }
                for word in DockerfileSyntax.words(instruction.arguments, escape: escape, lookup: lookup) {
                    let (name, value) = split(word.value)
                    guard !name.isEmpty else { continue }
                    if inStage {
                        // An ARG without a default inside a stage takes the global default.
                        let inherited: String?? = value == nil ? globalArgs[name] : nil
                        let defaultValue = value ?? (inherited ?? nil)
                        // ENV wins over an ARG of the same name.
                        if case .env? = stages[stages.count - 1].bindings[name] { continue }
                        stages[stages.count - 1].bindings[name] = .buildArg(name: name, defaultValue: defaultValue)
                    } else {
                        globalArgs[name] = .some(value)
                    }
                }
            case "ENV":
                guard !stages.isEmpty else { continue }
                let current = stages[stages.count - 1].bindings
                let lookup: (String) -> DockerfileBinding? = { current[$0] }
                let words = DockerfileSyntax.words(instruction.arguments, escape: escape, lookup: lookup)
                guard let first = words.first else { continue }
                if first.value.contains("=") {
                    // ENV KEY=VALUE [KEY=VALUE…]: all values are expanded against the bindings
                    // from before this instruction, as Docker does.
                    for word in words {
                        let (name, value) = split(word.value)
                        guard !name.isEmpty else { continue }
                        stages[stages.count - 1].bindings[name] = .env(value: value ?? "", buildArgs: word.buildArgs)
                    }
                } else {
                    // Legacy ENV KEY value with spaces.
                    let rest = words.dropFirst()
                    stages[stages.count - 1].bindings[first.value] =
                        .env(value: rest.map(\.value).joined(separator: " "), buildArgs: rest.flatMap(\.buildArgs))
                }
            case "USER":
                guard !stages.isEmpty else { continue }
                let current = stages[stages.count - 1].bindings
                let words = DockerfileSyntax.words(instruction.arguments, escape: escape) { current[$0] }
                stages[stages.count - 1].user = UserSetting(written: instruction.arguments, words: words, line: instruction.line)
            default:
                // ONBUILD USER … applies to images built from this one, not to this build.
                continue
            }
        }

        guard let final = stages.indices.last else {
            return .undetermined(reason: "no FROM instruction: not a Dockerfile, or an empty one")
        }
        return verdict(for: final, in: stages)
    }

    struct Stage {
        var line: Int
        var name: String?
        /// The earlier stage this one is built FROM, if any.
        var base: Int?
        /// Build ARGs the FROM image name depends on.
        var baseBuildArgs: [String] = []
        var bindings: [String: DockerfileBinding] = [:]
        /// The last USER of this stage.
        var user: UserSetting?
        /// Why the stage cannot be judged (a malformed FROM).
        var problem: String?

        init(line: Int) { self.line = line }
    }

    struct UserSetting {
        var written: String
        var words: [DockerfileWord]
        var line: Int
    }

    private static func verdict(for index: Int, in stages: [Stage]) -> FinalStageUser {
        // Find the USER in force: this stage's own, else the one its base stage ends with.
        var current = index
        while true {
            let stage = stages[current]
            if let problem = stage.problem { return .undetermined(reason: problem) }
            guard stage.user == nil, let base = stage.base else { break }
            if let arg = stage.baseBuildArgs.first {
                return .undetermined(reason: "line \(stage.line): the base stage comes from build ARG \(arg), which --build-arg can change, and the final stage sets no USER of its own")
            }
            current = base
        }
        guard let user = stages[current].user else {
            return .root(reason: "no USER instruction: runs as root")
        }
        let at = "line \(user.line): USER \(user.written)"
        guard user.words.count == 1, let word = user.words.first else {
            return .undetermined(reason: "\(at): USER takes exactly one value (user, uid, user:group or uid:gid)")
        }
        if let problem = word.problem {
            return .undetermined(reason: "\(at): \(problem)")
        }
        if let arg = word.buildArgs.first {
            return .undetermined(reason: "\(at) depends on build ARG \(arg), which 'docker build --build-arg' can override even when it has a default; write the user literally (or set it with ENV)")
        }
        let value = word.value
        let userPart = value.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard !userPart.isEmpty else {
            return .undetermined(reason: value.isEmpty ? "\(at) expands to nothing" : "\(at) names no user before ':'")
        }
        if userPart == "root" || userPart.allSatisfy({ $0 == "0" }) {
            return .root(reason: "\(at): runs as root (uid 0)")
        }
        return .nonRoot(user: value)
    }

    /// `NAME=value` → (NAME, value); `NAME` → (NAME, nil).
    private static func split(_ word: String) -> (String, String?) {
        guard let eq = word.firstIndex(of: "=") else { return (word, nil) }
        return (String(word[..<eq]), String(word[word.index(after: eq)...]))
    }
}
