/// Runs a `startup` fixture: starts a server with an environment and compares whether it
/// started, and what it said, with what the fixture expects.
struct StartupFixtureRunner {
    let runner: Runner

    func run(_ f: Fixture, _ s: StartupCheck) throws -> Outcome {
        // A target that cannot start servers throws `SkipFixture`.
        let outcome = try runner.target.startup(environment: s.environment)
        let level = runner.suite.level(of: f.rules)
        var findings: [Finding] = []
        let env = s.environment.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        if outcome.started != s.starts {
            findings.append(Finding(rules: f.rules, level: level,
                                    expected: s.starts ? "the server starts with \(env)" : "the server refuses to start with \(env)",
                                    actual: outcome.started ? "it started" : "it did not start: \(CheckEvaluator.short(outcome.message, 300))"))
        } else {
            for want in s.messageContains where !outcome.message.contains(want) {
                findings.append(Finding(rules: f.rules, level: level, expected: "a message containing \"\(want)\"",
                                        actual: outcome.message.isEmpty ? "no message" : CheckEvaluator.short(outcome.message, 300)))
            }
            for unwanted in s.messageNotContains where outcome.message.contains(unwanted) {
                findings.append(Finding(rules: f.rules, level: level, expected: "a message not containing \"\(unwanted)\"",
                                        actual: CheckEvaluator.short(outcome.message, 300)))
            }
        }
        return Outcome(findings: findings)
    }
}
