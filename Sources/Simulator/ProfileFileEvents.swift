import Wire

// Rule: a profile file streamed a block at a time is read by the parser that reads it whole
// (`ProfileLineParser`), line for line: the same files are accepted, the same errors name the
// same line, column and field, and clients and proxy headers get the same ids in the same order
// of first use. So a streamed prediction equals the in-memory one byte for byte, while memory
// holds one block of text, one chunk of events and the distinct clients, never the file.

/// A profile file as an event source: read in blocks (1 MiB), parsed as they arrive, delivered
/// in chunks of events. Each pass reads the file again from its start.
public final class ProfileFileEvents: EventSource {
    public let path: String
    public let format: ProfileFormat
    /// A chunk ends with the block in which it reached this many events (or the file's end).
    public var chunkSize = 1 << 20
    /// Bytes read at a time.
    public let blockSize: Int
    private var reader: LineBlocks
    private var parser: ProfileLineParser
    /// Whether this pass has read anything yet (a new pass then needs the file reopened).
    private var started = false
    private var finished = false

    /// Opens the profile at `path` (`-`, standard input, can be read in one pass only) in
    /// `format` (guessed from the name when nil, as `ProfileReader.read` does).
    public init(path: String, format: ProfileFormat? = nil, blockSize: Int = 1 << 20) throws(FileError) {
        self.path = path
        self.format = format ?? ProfileFormat.guess(path: path)
        self.blockSize = blockSize
        reader = try LineBlocks(path: path, blockSize: blockSize)
        parser = ProfileLineParser(path: path, format: self.format)
    }

    public func restart() throws {
        guard started else { return }
        guard path != "-" else {
            throw FileError(path: path, reason: "standard input can be read only once; give the profile as a file to read it again")
        }
        reader = try LineBlocks(path: path, blockSize: blockSize)
        parser = ProfileLineParser(path: path, format: format)
        started = false
        finished = false
    }

    public func next(into chunk: inout Profile) throws -> Bool {
        if !started {
            // Ids from 0, in order of first use, as reading the whole file gives them.
            chunk = Profile()
            started = true
        }
        chunk.removeAllEvents()
        guard !finished else { return false }
        // The parser works on a local copy: a class's stored property would be checked for
        // exclusive access on every line.
        var parser = self.parser
        defer { self.parser = parser }
        do {
            while chunk.count < chunkSize {
                let more = try reader.next { line, number in
                    try parser.add(line, number: number, to: &chunk)
                }
                if !more {
                    finished = true
                    try parser.finish()
                    break
                }
            }
        } catch {
            // As the whole-file reader does, nothing is read past a bad line.
            finished = true
            throw error
        }
        return !chunk.isEmpty
    }

    /// Reads one whole pass, keeping only the count of events and the last one's time: checks
    /// the file before anything is predicted from it. The next pass starts from the beginning.
    public func scan() throws -> (events: Int, duration: Double) {
        try restart()
        var chunk = Profile()
        var events = 0
        var duration = 0.0
        while try next(into: &chunk) {
            events += chunk.count
            duration = chunk.duration
        }
        return (events, duration)
    }
}
