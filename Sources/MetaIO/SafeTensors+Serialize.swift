import MetaTensor

extension SafeTensors {
    /// The file's bytes: the 8-byte header size (little-endian), the header
    /// JSON padded with spaces to a multiple of 8 bytes, then the data.
    ///
    ///     let bytes = try file.serialized()
    ///     try SafeTensors.parse(bytes: bytes) == file   // true
    ///
    /// The header lists `__metadata__` first (when there is metadata), then
    /// the tensors in `entries` order, each as
    /// `{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}`, compact, as the
    /// reference writer (serde_json) prints it. The data is laid out as the
    /// reference lays it out: by dtype alignment, largest first, then by name
    /// (UTF-8 bytes), so every tensor starts at a multiple of its element
    /// size; a file of one dtype whose entries are in name order comes out
    /// byte for byte as the reference writes it.
    ///
    /// Traps: throws when the header would pass `maxHeaderSize` (about a
    /// million tensors, or metadata of that size).
    public func serialized() throws -> [UInt8] {
        let (prefix, order) = try prefixAndLayout()
        let total = order.reduce(prefix.count) { $0 + entries[$1].byteCount }
        var out: [UInt8] = []
        out.reserveCapacity(total)
        out.append(contentsOf: prefix)
        for i in order { entries[i].withUnsafeBytes { out.append(contentsOf: $0) } }
        return out
    }

    /// The header size and padded header (everything before the data), and
    /// the order of `entries` in the data.
    func prefixAndLayout() throws -> (prefix: [UInt8], order: [Int]) {
        let order = entries.indices.sorted { a, b in
            let x = entries[a], y = entries[b]
            if x.dtype.layoutRank != y.dtype.layoutRank { return x.dtype.layoutRank > y.dtype.layoutRank }
            return x.name.utf8.lexicographicallyPrecedes(y.name.utf8)
        }
        var begins = [Int](repeating: 0, count: entries.count)
        var offset = 0
        for i in order {
            begins[i] = offset
            offset += entries[i].byteCount
        }

        // Integers are printed here rather than through `JSON`, whose numbers
        // are Doubles and would round offsets and dimensions above 2^53.
        var header = "{"
        if !metadata.isEmpty {
            header += "\"__metadata__\":{"
            for (i, (key, value)) in metadata.enumerated() {
                if i > 0 { header += "," }
                header += try JSON.string(key).serialized + ":" + JSON.string(value).serialized
            }
            header += "}"
        }
        for (i, e) in entries.enumerated() {
            if i > 0 || !metadata.isEmpty { header += "," }
            header += try JSON.string(e.name).serialized
            header += ":{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":["
            header += e.shape.map { String($0) }.joined(separator: ",")
            header += "],\"data_offsets\":[\(begins[i]),\(begins[i] + e.byteCount)]}"
        }
        header += "}"

        var headerBytes = Array(header.utf8)
        let padded = (headerBytes.count + 7) / 8 * 8
        guard padded <= SafeTensors.maxHeaderSize else {
            throw MetaError.argument("safetensors: the header would be \(padded) bytes, above the format's limit "
                                     + "of \(SafeTensors.maxHeaderSize) (\(entries.count) tensors, "
                                     + "\(metadata.count) metadata pairs)")
        }
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padded - headerBytes.count))

        var prefix: [UInt8] = []
        prefix.reserveCapacity(8 + headerBytes.count)
        Swift.withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { prefix.append(contentsOf: $0) }
        prefix.append(contentsOf: headerBytes)
        return (prefix, order)
    }
}
