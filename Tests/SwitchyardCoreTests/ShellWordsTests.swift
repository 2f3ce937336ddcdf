import SwitchyardCore
import Testing

@Suite("Splitting an --exec command without a shell")
struct ShellWordsTests {
    @Test(arguments: [
        ("airflow scheduler", ["airflow", "scheduler"]),
        ("  airflow   scheduler  --num-runs 5 ", ["airflow", "scheduler", "--num-runs", "5"]),
        ("celery -A 'my app' beat", ["celery", "-A", "my app", "beat"]),
        (#"run "a \"quoted\" word" b\ c"#, ["run", #"a "quoted" word"#, "b c"]),
        ("x ''", ["x", ""]),
        ("/opt/airflow/bin/airflow scheduler", ["/opt/airflow/bin/airflow", "scheduler"]),
    ])
    func splitsLikeAShell(line: String, words: [String]) throws {
        #expect(try ShellWords.split(line) == words)
    }

    @Test(arguments: [
        ("airflow scheduler; echo done", "needs a shell"),
        ("airflow scheduler > log", "needs a shell"),
        ("FOO=$HOME airflow", "needs a shell"),
        ("airflow \"$X\"", "needs a shell"),
        ("airflow 'open", "unterminated quote"),
        ("airflow \\", "trailing backslash"),
        ("   ", "empty command"),
    ])
    func refusesWhatOnlyAShellCanDo(line: String, reason: String) {
        #expect(throws: ShellWords.Refusal.self) { try ShellWords.split(line) }
        do {
            _ = try ShellWords.split(line)
        } catch {
            #expect(error.description.contains(reason), "\(error)")
        }
    }
}
