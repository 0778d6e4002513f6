enum ServeCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError("'serve' is not available in this build yet")
    }
}
