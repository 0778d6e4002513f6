enum SignCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError("'sign' is not available in this build yet")
    }
}
