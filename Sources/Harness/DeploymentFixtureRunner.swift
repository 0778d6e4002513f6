/// Runs a `deployment` fixture: what the declared deployment means for the limits (memory
/// limiters in several workers multiply them), as a note.
struct DeploymentFixtureRunner {
    let runner: Runner

    func run(_ f: Fixture, _ d: DeploymentCheck) -> Outcome {
        let workers = runner.target.targetFile.workers
        if runner.declared.backend == "memory" && workers > 1 {
            return Outcome(notes: [
                "\(workers) workers with the memory backend: each worker limits on its own, so one client can get up to \(workers) × the limit (\(workers * 60) webhook ingests per 60 s); the page advises also limiting at the reverse proxy, or the redis backend",
            ], clean: .informational)
        }
        return Outcome()
    }
}
