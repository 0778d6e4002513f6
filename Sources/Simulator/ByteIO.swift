#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Wire

// Streaming byte input and output for profiles and reports: a profile of ten million events is
// hundreds of megabytes of text, so it is read and written in fixed-size blocks rather than held
// whole in memory.

/// A failure to open, read or write a file, naming it.
public struct FileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Buffered output to a file (or standard output for `-`).
public final class ByteSink {
    public let path: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []
    private let capacity: Int
    private var failed: FileError?

    /// Opens `path` for writing (created or truncated); `-` is standard output.
    public init(path: String, capacity: Int = 1 << 20) throws(FileError) {
        self.path = path
        self.capacity = capacity
        if path == "-" {
            fd = STDOUT_FILENO
            ownsDescriptor = false
        } else {
            let opened = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard opened >= 0 else { throw FileError(path: path, reason: "cannot open for writing: \(String(cString: strerror(errno)))") }
            fd = opened
            ownsDescriptor = true
        }
        buffer.reserveCapacity(capacity)
    }

    deinit {
        try? flush()
        if ownsDescriptor { Platform.close(fd) }
    }

    @inlinable
    public func write(_ bytes: [UInt8]) throws(FileError) {
        try withBuffer { $0.append(contentsOf: bytes) }
    }

    public func write(_ text: String) throws(FileError) {
        try withBuffer { $0.append(contentsOf: text.utf8) }
    }

    /// Gives direct access to the pending buffer (to format numbers in place), then flushes
    /// when it has grown past the block size.
    public func withBuffer(_ body: (inout [UInt8]) -> Void) throws(FileError) {
        body(&buffer)
        if buffer.count >= capacity { try flush() }
    }

    public func flush() throws(FileError) {
        if let failed { throw failed }
        var offset = 0
        while offset < buffer.count {
            let n = buffer[offset...].withUnsafeBytes { Platform.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                let error = FileError(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
                failed = error
                buffer.removeAll(keepingCapacity: true)
                throw error
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes and, for a file, closes it; errors surface here rather than being lost in deinit.
    public func close() throws(FileError) {
        try flush()
    }
}

/// Reads a file line by line in blocks; lines end with LF (a CR before it is dropped).
public enum LineReader {
    /// Longest line accepted: protects against a binary file read as a profile.
    public static let maximumLineLength = 1 << 20

    /// Calls `body` with each line (without its terminator) and its 1-based number. `-` reads
    /// standard input.
    public static func forEachLine(path: String, _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) throws {
        let reader = try LineBlocks(path: path)
        while try reader.next(body) {}
    }

    /// The whole file as bytes (for small files: specs, target files, results).
    public static func readAll(path: String, limit: Int = 256 << 20) throws -> [UInt8] {
        var all: [UInt8] = []
        try forEachLine(path: path) { line, _ in
            all.append(contentsOf: line)
            all.append(10)
            if all.count > limit { throw FileError(path: path, reason: "larger than \(limit) bytes") }
        }
        return all
    }
}

/// A file read one block at a time, handing out the lines each block completes: what is held is
/// one block and the partial line carried over from the block before, never the whole file.
/// Lines end with LF (a CR before it is dropped); the last line needs no terminator.
final class LineBlocks {
    let path: String
    private let fd: Int32
    private let blockSize: Int
    private var buffer: [UInt8]
    /// The pending (incomplete) line is buffer[start..<end].
    private var start = 0
    private var end = 0
    private var lineNumber = 0
    private var finished = false

    /// Opens `path` (`-` is standard input).
    init(path: String, blockSize: Int = 1 << 20) throws(FileError) {
        self.path = path
        self.blockSize = max(1, blockSize)
        if path == "-" {
            fd = STDIN_FILENO
        } else {
            let opened = open(path, O_RDONLY | O_CLOEXEC)
            guard opened >= 0 else { throw FileError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
            var info = stat()
            if fstat(opened, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                Platform.close(opened)
                throw FileError(path: path, reason: "is a directory, not a file")
            }
            fd = opened
        }
        buffer = [UInt8](repeating: 0, count: self.blockSize * 2)
    }

    deinit {
        if fd != STDIN_FILENO { Platform.close(fd) }
    }

    /// Reads the next block and calls `body` with each line it completes and the line's 1-based
    /// number (at the end of the file, also the last line when it has no terminator). Returns
    /// false, without calling `body`, once the whole file has been handed out.
    func next(_ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) throws -> Bool {
        guard !finished else { return false }
        // Move the pending partial line to the front and make room for a block.
        if start > 0 {
            let pending = end - start
            if pending > 0 {
                buffer.withUnsafeMutableBufferPointer { b in
                    guard let base = b.baseAddress else { return }
                    memmove(base, base + start, pending)
                }
            }
            end = pending
            start = 0
        }
        // (A CR still to be dropped may follow the longest line.)
        if end > LineReader.maximumLineLength + 1 { throw tooLong(line: lineNumber + 1) }
        if buffer.count - end < blockSize { buffer.append(contentsOf: [UInt8](repeating: 0, count: blockSize)) }
        let n = buffer.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            while true {
                let r = read(fd, base + end, blockSize)
                if r < 0 && errno == EINTR { continue }
                return r
            }
        }
        if n < 0 { throw FileError(path: path, reason: "read failed: \(String(cString: strerror(errno)))") }
        end += n
        // Hand out every complete line in buffer[start..<end].
        var lineStart = start
        var number = lineNumber
        defer {
            start = lineStart
            lineNumber = number
        }
        try buffer.withUnsafeBufferPointer { all in
            // The carried-over partial line has no LF: only the new bytes need a look.
            var scan = end - n
            while scan < end {
                if all[scan] == 10 {
                    var lineEnd = scan
                    if lineEnd > lineStart && all[lineEnd - 1] == 13 { lineEnd -= 1 }
                    number += 1
                    if lineEnd - lineStart > LineReader.maximumLineLength { throw tooLong(line: number) }
                    try body(UnsafeBufferPointer(rebasing: all[lineStart..<lineEnd]), number)
                    lineStart = scan + 1
                }
                scan += 1
            }
            if n == 0 {
                finished = true
                if lineStart < end {
                    var lineEnd = end
                    if all[lineEnd - 1] == 13 { lineEnd -= 1 }
                    number += 1
                    if lineEnd - lineStart > LineReader.maximumLineLength { throw tooLong(line: number) }
                    try body(UnsafeBufferPointer(rebasing: all[lineStart..<lineEnd]), number)
                    lineStart = end
                }
            }
        }
        return true
    }

    /// The limit is checked on every line, not only on a partial line between blocks, so
    /// that a line is refused whatever the block size and wherever it falls in the file.
    private func tooLong(line: Int) -> InputError {
        InputError(file: path, line: line, message: "line longer than \(LineReader.maximumLineLength) bytes (is this a profile?)")
    }
}
