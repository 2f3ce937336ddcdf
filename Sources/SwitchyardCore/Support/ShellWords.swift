/// Splits a command line into words the way a POSIX shell does for a simple command — single and
/// double quotes, backslash escapes, blanks between words — without running a shell: `--exec
/// "airflow scheduler"` then runs `airflow` itself, which receives the guard's SIGTERM and shuts down
/// within its grace. Anything only a shell can do (`;`, `|`, `&`, redirections, `$`, backquotes,
/// globs) is refused with the reason, so a command that needs a shell says so (`--exec-shell`).
public enum ShellWords {
    /// Why a command line cannot be split without a shell.
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        /// What is wrong with the command line.
        public var description: String
    }

    /// The words of `line`.
    public static func split(_ line: String) throws(Refusal) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for ch in line {
            if escaped {
                current.append(ch)
                escaped = false
                inWord = true
                continue
            }
            if let q = quote {
                if ch == q {
                    quote = nil
                } else if ch == "\\" && q == "\"" {
                    escaped = true
                } else if q == "\"" && (ch == "$" || ch == "`") {
                    throw Refusal(description: "\(ch) inside double quotes needs a shell: use --exec-shell")
                } else {
                    current.append(ch)
                }
                continue
            }
            switch ch {
            case " ", "\t", "\n":
                if inWord {
                    words.append(current)
                    current = ""
                    inWord = false
                }
            case "'", "\"":
                quote = ch
                inWord = true
            case "\\":
                escaped = true
            case ";", "|", "&", "<", ">", "$", "`", "(", ")", "*", "?", "[", "{", "}", "~", "#":
                throw Refusal(
                    description: "\(ch) needs a shell: use --exec-shell to run the command through /bin/sh -c")
            default:
                current.append(ch)
                inWord = true
            }
        }
        if quote != nil { throw Refusal(description: "unterminated quote") }
        if escaped { throw Refusal(description: "a trailing backslash") }
        if inWord { words.append(current) }
        if words.isEmpty { throw Refusal(description: "empty command") }
        return words
    }
}
