import Foundation

/// Runs a `dockerfile` fixture: the final stage's user, `COPY --chown` and volumes of an
/// inline Dockerfile, a file, or the target file's Dockerfiles (`skipReason` has checked that
/// the target names them).
struct DockerfileFixtureRunner {
    let runner: Runner

    func run(_ f: Fixture, _ d: DockerfileCheck) -> Outcome {
        var texts: [(name: String, text: String)] = []
        switch d.source {
        case .inline(let text):
            texts = [("inline Dockerfile", text)]
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                return Outcome(findings: [Finding(rules: f.rules, level: .spec, expected: "a readable Dockerfile", actual: "cannot read \(path)")])
            }
            texts = [(path, text)]
        case .targetFile(let which):
            let files = runner.target.targetFile.dockerfiles
            for name in which == "each" ? files.keys.sorted() : [which] {
                guard let path = files[name], let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    return Outcome(findings: [Finding(rules: f.rules, level: .spec, expected: "a readable Dockerfile", actual: "cannot read \(files[name] ?? name)")])
                }
                texts.append(("\(name) (\(path))", text))
            }
        }
        var findings: [Finding] = []
        var notes: [String] = []
        let level = runner.suite.level(of: f.rules)
        for (name, text) in texts {
            let inspection = DockerfileInspection(text: text)
            if let want = d.finalUser, inspection.finalUserName != want {
                findings.append(Finding(rules: f.rules, level: level, expected: "\(name): final stage \(want)", actual: inspection.finalUserDescription))
            }
            if let want = d.user, inspection.user != want {
                findings.append(Finding(rules: f.rules, level: level, expected: "\(name): USER \(want)", actual: inspection.finalUserDescription))
            }
            if let want = d.copyChown {
                for line in inspection.copiesWithoutChown(want) {
                    findings.append(Finding(rules: f.rules, level: level, expected: "\(name): COPY/ADD with --chown=\(want)", actual: line))
                }
            }
            if d.noteVolumes, !inspection.volumes.isEmpty {
                notes.append("\(name) declares VOLUME \(inspection.volumes.joined(separator: ", ")): bind mounts there must be writable by \(inspection.user ?? "the container user")")
            }
        }
        return Outcome(findings: findings, notes: notes, clean: notes.isEmpty ? .pass : .informational)
    }
}
