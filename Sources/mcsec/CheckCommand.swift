enum CheckCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError("'check' is not available in this build yet")
    }
}
