enum BenchLimiter {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError("this benchmark is not available in this build yet")
    }
}
