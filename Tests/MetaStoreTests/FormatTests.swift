import XCTest
import MetaStore

final class FormatTests: XCTestCase {
    func testTheFormatNamesItself() {
        XCTAssertEqual(StoreFormat.formatName, "metaswift")
        XCTAssertGreaterThanOrEqual(StoreFormat.version, 1)
    }
}
