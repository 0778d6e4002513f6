enum ProfileCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError("'profile' is not available in this build yet")
    }
}
