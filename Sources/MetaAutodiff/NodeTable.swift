/// Node → dense index, by open addressing on the node's address.
///
/// The backward walk looks nodes up several times each; a Dictionary keyed by
/// ObjectIdentifier hashes with SipHash, which showed up in profiles of small
/// meta-learning steps. Addresses are unique while the nodes are alive (the
/// walk holds them), so a multiplicative hash of the address suffices.
struct NodeTable {
    private var keys: [UInt]
    private var values: [Int]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt](repeating: 0, count: size)
        values = [Int](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    private func slot(_ key: UInt) -> Int {
        Int(truncatingIfNeeded: (key >> 4) &* 0x9E37_79B9_7F4A_7C15 >> 20) & mask
    }

    /// The index stored for `node`, or nil.
    func index(of node: Node) -> Int? {
        let key = UInt(bitPattern: Unmanaged.passUnretained(node).toOpaque())
        var i = slot(key)
        while keys[i] != 0 {
            if keys[i] == key { return values[i] }
            i = (i &+ 1) & mask
        }
        return nil
    }

    /// Stores `value` for `node` (which must not be present yet).
    mutating func insert(_ node: Node, _ value: Int) {
        if (count + 1) * 2 > keys.count { grow() }
        let key = UInt(bitPattern: Unmanaged.passUnretained(node).toOpaque())
        var i = slot(key)
        while keys[i] != 0 { i = (i &+ 1) & mask }
        keys[i] = key
        values[i] = value
        count += 1
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [UInt](repeating: 0, count: oldKeys.count * 2)
        values = [Int](repeating: 0, count: oldKeys.count * 2)
        mask = keys.count - 1
        for (k, v) in zip(oldKeys, oldValues) where k != 0 {
            var i = slot(k)
            while keys[i] != 0 { i = (i &+ 1) & mask }
            keys[i] = k
            values[i] = v
        }
    }
}
