import Reference

/// Connects the in-process reference to Redis when a fixture configures the redis backend.
enum RedisStoreConnector {
    static func connect(url: String) throws -> any RateLimitStore {
        throw SkipFixture("the in-process reference cannot reach a Redis store in this build")
    }
}
