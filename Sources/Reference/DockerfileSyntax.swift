/// The parts of the Dockerfile language the container-user rule needs: parser directives (the
/// escape character), comments, line continuations, heredocs, instructions in any case, and
/// word splitting with quotes and `$VAR` / `${VAR}` / `${VAR:-word}` substitution that records
/// which build ARGs a value depends on.
struct DockerfileInstruction: Equatable, Sendable {
    /// The instruction keyword, upper-cased (`FROM`, `USER`, …).
    var keyword: String
    /// Everything after the keyword on the logical line, continuations joined, trimmed.
    var arguments: String
    /// The 1-based physical line the instruction starts on.
    var line: Int
}

/// What a variable name is bound to at some point of a stage.
enum DockerfileBinding: Equatable, Sendable {
    /// A build ARG: `docker build --build-arg` can replace the value, even when there is a default.
    case buildArg(name: String, defaultValue: String?)
    /// An ENV value, already expanded when it was set, with the build ARGs it was made from.
    case env(value: String, buildArgs: [String])
}

/// The result of expanding a word: its value (with ARG defaults where an ARG was used), the
/// build ARGs it depends on, and a syntax problem if there was one.
struct DockerfileWord: Equatable, Sendable {
    var value = ""
    var buildArgs: [String] = []
    var problem: String?
}

enum DockerfileSyntax {
    /// The logical instructions of a Dockerfile, plus the escape character it declares.
    static func instructions(in text: String) -> (instructions: [DockerfileInstruction], escape: Character) {
        // Swift compares Characters, and CR LF is one Character, so both forms are separators.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        var escape: Character = "\\"
        var index = 0
        // Parser directives: only in the leading comment lines of the form "# key=value".
        while index < lines.count, let (key, value) = directive(lines[index]) {
            if key == "escape", value == "`" || value == "\\" { escape = Character(value) }
            index += 1
        }
        var result: [DockerfileInstruction] = []
        while index < lines.count {
            let first = lines[index].drop { $0 == " " || $0 == "\t" }
            let startLine = index + 1
            index += 1
            if first.isEmpty || first.hasPrefix("#") { continue }
            var logical = String(first)
            while let continued = withoutContinuation(logical, escape: escape) {
                logical = continued
                // Comment and blank lines inside a continuation are skipped, as Docker does.
                while index < lines.count, isBlankOrComment(lines[index]) { index += 1 }
                guard index < lines.count else { break }
                logical += lines[index]
                index += 1
            }
            let keywordEnd = logical.firstIndex { $0 == " " || $0 == "\t" } ?? logical.endIndex
            let keyword = logical[..<keywordEnd].uppercased()
            let arguments = String(logical[keywordEnd...].trimmingASCIIWhitespace())
            result.append(DockerfileInstruction(keyword: keyword, arguments: arguments, line: startLine))
            // Heredoc bodies (`RUN <<EOF … EOF`) are data, not instructions: a "USER root" line
            // inside one must not count.
            if ["RUN", "COPY", "ADD"].contains(keyword) {
                for marker in heredocMarkers(in: arguments) {
                    while index < lines.count {
                        let body = marker.stripsTabs ? lines[index].drop { $0 == "\t" } : lines[index][...]
                        index += 1
                        if body == marker.word { break }
                    }
                }
            }
        }
        return (result, escape)
    }

    /// Splits `text` into words as the Dockerfile shell-like syntax does: whitespace separates
    /// words outside quotes, single quotes are literal, double quotes and bare text expand
    /// variables, and the escape character makes the next character literal.
    static func words(_ text: String, escape: Character, lookup: (String) -> DockerfileBinding?) -> [DockerfileWord] {
        var words: [DockerfileWord] = []
        var current = DockerfileWord()
        var inWord = false
        var characters = Array(text)[...]
        while let c = characters.first {
            characters = characters.dropFirst()
            if c == " " || c == "\t" {
                if inWord { words.append(current) }
                current = DockerfileWord()
                inWord = false
                continue
            }
            inWord = true
            if c == escape {
                if let next = characters.first {
                    current.value.append(next)
                    characters = characters.dropFirst()
                }
            } else if c == "'" {
                guard let close = characters.firstIndex(of: "'") else {
                    current.problem = current.problem ?? "unterminated single quote"
                    current.value += String(characters)
                    characters = characters.dropFirst(characters.count)
                    continue
                }
                current.value += String(characters[..<close])
                characters = characters[characters.index(after: close)...]
            } else if c == "\"" {
                var closed = false
                while let d = characters.first {
                    characters = characters.dropFirst()
                    if d == "\"" { closed = true; break }
                    if d == escape, let next = characters.first, next == "\"" || next == "$" || next == escape {
                        current.value.append(next)
                        characters = characters.dropFirst()
                    } else if d == "$" {
                        substitute(&characters, into: &current, escape: escape, lookup: lookup)
                    } else {
                        current.value.append(d)
                    }
                }
                if !closed { current.problem = current.problem ?? "unterminated double quote" }
            } else if c == "$" {
                substitute(&characters, into: &current, escape: escape, lookup: lookup)
            } else {
                current.value.append(c)
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// Expands one `$…` reference whose `$` has just been consumed.
    private static func substitute(_ characters: inout ArraySlice<Character>, into word: inout DockerfileWord,
                                   escape: Character, lookup: (String) -> DockerfileBinding?) {
        guard let first = characters.first else {
            word.value.append("$")
            return
        }
        if first == "{" {
            // Find the matching brace, allowing nested ${…} inside a default word.
            var depth = 0
            var end: ArraySlice<Character>.Index?
            var i = characters.startIndex
            while i < characters.endIndex {
                if characters[i] == "{" { depth += 1 }
                if characters[i] == "}" {
                    depth -= 1
                    if depth == 0 { end = i; break }
                }
                i += 1
            }
            guard let end else {
                word.problem = word.problem ?? "unterminated ${"
                characters = characters.dropFirst(characters.count)
                return
            }
            let inner = String(characters[characters.index(after: characters.startIndex)..<end])
            characters = characters[characters.index(after: end)...]
            expandBraced(inner, into: &word, escape: escape, lookup: lookup)
            return
        }
        guard first == "_" || first.isASCIILetter else {
            word.value.append("$")
            return
        }
        var name = ""
        while let c = characters.first, c == "_" || c.isASCIILetter || c.isASCIIDigit {
            name.append(c)
            characters = characters.dropFirst()
        }
        append(lookup(name), into: &word)
    }

    /// `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`, `${NAME:?…}`.
    private static func expandBraced(_ inner: String, into word: inout DockerfileWord,
                                     escape: Character, lookup: (String) -> DockerfileBinding?) {
        let nameEnd = inner.firstIndex { !($0 == "_" || $0.isASCIILetter || $0.isASCIIDigit) } ?? inner.endIndex
        let name = String(inner[..<nameEnd])
        guard !name.isEmpty, !(name.first?.isASCIIDigit ?? false) else {
            word.problem = word.problem ?? "bad substitution ${\(inner)}"
            return
        }
        let binding = lookup(name)
        var rest = inner[nameEnd...]
        if rest.isEmpty {
            append(binding, into: &word)
            return
        }
        let colon = rest.hasPrefix(":")
        if colon { rest = rest.dropFirst() }
        guard let op = rest.first, "-+?".contains(op) else {
            word.problem = word.problem ?? "unsupported substitution ${\(inner)}"
            return
        }
        let alternativeText = String(rest.dropFirst())
        var current = DockerfileWord()
        append(binding, into: &current)
        let isSet = binding != nil && (!colon || !current.value.isEmpty)
        // The choice between the variable and the word depends on the variable, so a build ARG
        // taints the result whichever branch its default selects.
        word.buildArgs += current.buildArgs
        switch op {
        case "-":
            if isSet {
                word.value += current.value
            } else {
                let alternative = words(alternativeText, escape: escape, lookup: lookup)
                word.value += alternative.map(\.value).joined(separator: " ")
                word.buildArgs += alternative.flatMap(\.buildArgs)
            }
        case "+":
            if isSet {
                let alternative = words(alternativeText, escape: escape, lookup: lookup)
                word.value += alternative.map(\.value).joined(separator: " ")
                word.buildArgs += alternative.flatMap(\.buildArgs)
            }
        default:  // "?": an error when unset; the value otherwise.
            if isSet { word.value += current.value } else { word.problem = word.problem ?? "${\(inner)}: \(name) is not set" }
        }
    }

    private static func append(_ binding: DockerfileBinding?, into word: inout DockerfileWord) {
        switch binding {
        case nil:
            break  // An unset variable expands to nothing.
        case .buildArg(let name, let defaultValue)?:
            word.value += defaultValue ?? ""
            word.buildArgs.append(name)
        case .env(let value, let buildArgs)?:
            word.value += value
            word.buildArgs += buildArgs
        }
    }

    /// `text` without leading and trailing spaces and tabs.
    static func trimmed(_ text: some StringProtocol) -> String {
        String(text.trimmingASCIIWhitespace())
    }

    /// `# key=value` at the top of the file.
    private static func directive(_ line: Substring) -> (String, String)? {
        let trimmed = line.trimmingASCIIWhitespace()
        guard trimmed.hasPrefix("#") else { return nil }
        let body = trimmed.dropFirst()
        guard let eq = body.firstIndex(of: "=") else { return nil }
        let key = body[..<eq].trimmingASCIIWhitespace().lowercased()
        let value = String(body[body.index(after: eq)...].trimmingASCIIWhitespace())
        guard !key.isEmpty, key.allSatisfy({ $0.isASCIILetter }), !value.isEmpty, !value.contains(" ") else { return nil }
        return (key, value)
    }

    /// The logical line without its trailing escape character, or nil when it does not continue.
    private static func withoutContinuation(_ line: String, escape: Character) -> String? {
        var trimmed = Substring(line)
        while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
        guard trimmed.last == escape else { return nil }
        return String(trimmed.dropLast())
    }

    private static func isBlankOrComment(_ line: Substring) -> Bool {
        let body = line.drop { $0 == " " || $0 == "\t" }
        return body.isEmpty || body.hasPrefix("#")
    }

    /// Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`) that start a word.
    static func heredocMarkers(in arguments: String) -> [(word: String, stripsTabs: Bool)] {
        var markers: [(String, Bool)] = []
        let characters = Array(arguments)
        var i = 0
        while i + 2 < characters.count {
            let startsWord = i == 0 || characters[i - 1] == " " || characters[i - 1] == "\t"
            guard startsWord, characters[i] == "<", characters[i + 1] == "<" else {
                i += 1
                continue
            }
            var j = i + 2
            var stripsTabs = false
            if j < characters.count, characters[j] == "-" { stripsTabs = true; j += 1 }
            var quote: Character?
            if j < characters.count, characters[j] == "\"" || characters[j] == "'" { quote = characters[j]; j += 1 }
            var word = ""
            while j < characters.count, characters[j] == "_" || characters[j].isASCIILetter || characters[j].isASCIIDigit {
                word.append(characters[j])
                j += 1
            }
            if let quote, j < characters.count, characters[j] == quote { j += 1 }
            if !word.isEmpty { markers.append((word, stripsTabs)) }
            i = max(j, i + 2)
        }
        return markers
    }
}

fileprivate extension Character {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
