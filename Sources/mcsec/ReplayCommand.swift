enum ReplayCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError("'replay' is not available in this build yet")
    }
}
