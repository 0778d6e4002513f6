enum SimulateCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError("'simulate' is not available in this build yet")
    }
}
