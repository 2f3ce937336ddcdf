import Foundation

/// The one JSON dialect Switchyard writes and reads on every wire: the API, the CLI's `--json`, the
/// journal's step results, hook bodies and the observations' details. Swift properties are
/// lowerCamelCase; their keys are snake_case (`activeRegion` is `"active_region"`). Dictionary keys
/// (region and component names) pass through unchanged.
///
/// A property whose key puts an underscore before a digit (`agent_200_regions_…`) needs an explicit
/// `CodingKeys` raw value: the strategy would write `agent200_regions_…`.
public enum WireJSON {
    /// An encoder with snake_case keys and sorted keys (stable bytes for tests and diffs).
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The matching decoder: snake_case keys to lowerCamelCase properties.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
