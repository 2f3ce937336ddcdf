import Foundation
import SwitchyardCore
import Testing

@Suite("Airflow consistency between regions")
struct AirflowConsistencyTests {
    let at = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func identicalRegionsAreConsistent() {
        let inventory = AirflowInventory(
            variables: ["bucket": "d1"], connections: ["warehouse": "c1 password"], pools: ["etl": "4 slots"],
            fernetKeys: ["sha256:00112233aabbccdd"])
        let result = AirflowConsistency.compare(["us-east": inventory, "eu-west": inventory], errors: [:], at: at)
        #expect(result.consistent)
        #expect(result.drift.isEmpty)
        #expect(result.regions["eu-west"]?.connections == 1)
    }

    @Test func missingAndDifferingItemsAreNamedWithTheirRegions() {
        let east = AirflowInventory(
            variables: ["bucket": "d1", "only_east": "x"], connections: ["warehouse": "c1"], pools: ["etl": "4 slots"])
        let west = AirflowInventory(variables: ["bucket": "d2"], connections: [:], pools: ["etl": "8 slots"])
        let south = AirflowInventory(
            variables: ["bucket": "d1"], connections: ["warehouse": "c1"], pools: ["etl": "4 slots"])
        let result = AirflowConsistency.compare(
            ["us-east": east, "eu-west": west, "ap-south": south], errors: [:], at: at)
        #expect(!result.consistent)
        let byName = Dictionary(uniqueKeysWithValues: result.drift.map { ("\($0.kind) \($0.name)", $0) })
        #expect(byName["variable bucket"]?.differing == [["ap-south", "us-east"], ["eu-west"]])
        #expect(byName["variable bucket"]?.missingIn == [])
        #expect(byName["variable only_east"]?.missingIn == ["ap-south", "eu-west"])
        #expect(byName["connection warehouse"]?.missingIn == ["eu-west"])
        #expect(byName["pool etl"]?.differing == [["ap-south", "us-east"], ["eu-west"]])
        #expect(result.drift.map(\.kind) == ["connection", "pool", "variable", "variable"])
        #expect(byName["connection warehouse"]?.summary == "connection warehouse missing in eu-west")
    }

    @Test func fernetKeysMustAgreeWhereKnownAndWithinARegion() {
        let a = AirflowInventory(fernetKeys: ["sha256:aaaaaaaaaaaaaaaa"])
        let b = AirflowInventory(fernetKeys: ["sha256:bbbbbbbbbbbbbbbb"])
        let unknown = AirflowInventory()
        let split = AirflowInventory(fernetKeys: ["sha256:aaaaaaaaaaaaaaaa", "sha256:bbbbbbbbbbbbbbbb"])
        #expect(AirflowConsistency.compare(["x": a, "y": a, "z": unknown], errors: [:], at: at).consistent)
        let differ = AirflowConsistency.compare(["x": a, "y": b], errors: [:], at: at)
        #expect(differ.drift.map(\.kind) == ["fernet_key"])
        #expect(differ.drift.first?.differing == [["x"], ["y"]])
        #expect(differ.drift.first?.summary == "fernet key differs: x vs y")
        // One region's nodes disagree among themselves: drift even when it is the only one that knows.
        #expect(
            AirflowConsistency.compare(["x": split, "y": unknown], errors: [:], at: at).drift.map(\.kind) == [
                "fernet_key"
            ])
    }

    @Test func aRegionThatCannotBeReadMakesTheResultUnknownNotDrift() {
        let inventory = AirflowInventory(variables: ["bucket": "d1"])
        let result = AirflowConsistency.compare(
            ["us-east": inventory], errors: ["eu-west": "connection refused"], at: at)
        #expect(!result.consistent)
        #expect(result.drift.isEmpty)
        #expect(result.regions["eu-west"]?.error == "connection refused")
        #expect(result.regions["us-east"]?.variables == 1)
    }
}
