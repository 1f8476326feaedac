#!/usr/bin/python3
"""Writes the Caffe-model fixtures of tests/io/caffe_test.cpp (include/tinycnn/io/caffe.hpp).

Run with Debian's interpreter, which has the protobuf runtime and numpy, and with protoc on PATH:
    /usr/bin/python3 tools/make_caffe_fixtures.py [output_dir]   (default: tests/data next to tools/)

The messages come from tools/caffe_subset.proto (Caffe's field numbers), compiled with
`protoc --python_out` into a temporary directory and imported. What protoc's serializer cannot
produce (unpacked values of a packed field, fields out of order, corrupt bytes) is encoded by hand
with the few wire-format helpers below. Everything is deterministic (numpy RandomState, fixed seed):
running the script twice writes identical bytes.

The tiny net of every fixture, in tinycnn terms (input 3x4x4):
    conv1 Conv2d(3, 4, 3, padding 1) - relu1 - pool1 MaxPool2d(2) - conv2 Conv2d(4, 6, 1)
    - relu2 - flatten - fc Linear(24, 3)
Valid files (tests/data/):
  caffe_v1_tiny.caffemodel        V1 format (NetParameter.layers, enum types), legacy 4-D blob
                                  shapes: conv (K,C,R,S), biases (1,1,1,n), fc weight (1,1,3,24);
                                  data and loss layers, blobs_lr / weight_decay to skip.
  caffe_v2_tiny.caffemodel        current format (NetParameter.layer, string types), BlobShape
                                  shapes, conv1 geometry as kernel_h/kernel_w/pad_h/pad_w/stride_h/
                                  stride_w; conv2 has no bias (bias_term false, one blob).
  caffe_v2_unpacked.caffemodel    the v2 net encoded by hand: conv1 weight as unpacked floats, conv1
                                  bias as packed double_data with a legacy shape, conv2 weight as
                                  unpacked double_data, fc weight as floats in two packed runs with
                                  unpacked BlobShape dims, fc bias as unpacked floats, fc's name
                                  after its blobs.
  caffe_expected.safetensors      the values each file holds, in tinycnn's parameter shapes:
                                  "<file stem>/<layer>.<weight|bias>" (F32, or F64 for double_data).
Malformed files (tests/data/caffe/, each named by what is wrong; a seed corpus for fuzzing), all
variations of caffe_v1_tiny unless named v2_*; the test expects each to be refused by
load_caffemodel into the v1 net with a message naming the problem.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

with tempfile.TemporaryDirectory() as _tmp:
    subprocess.run(["protoc", "--python_out=" + _tmp, "-I" + HERE,
                    os.path.join(HERE, "caffe_subset.proto")], check=True)
    sys.path.insert(0, _tmp)
    import caffe_subset_pb2 as pb  # noqa: E402
    sys.path.pop(0)

V1 = pb.V1LayerParameter

# ---- wire format by hand -----------------------------------------------------------------------


def varint(n):
    n &= (1 << 64) - 1  # negative int32/int64 values: two's complement in 10 bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(number, wire):
    return varint(number << 3 | wire)


def ld(number, payload):
    """A length-delimited field."""
    return tag(number, 2) + varint(len(payload)) + payload


def unpacked_floats(number, values):
    return b"".join(tag(number, 5) + np.float32(v).tobytes() for v in values)


def unpacked_doubles(number, values):
    return b"".join(tag(number, 1) + np.float64(v).tobytes() for v in values)


def unpacked_dims(shape):
    """BlobShape with one `dim` field per dimension (the proto declares it packed)."""
    return b"".join(tag(1, 0) + varint(d) for d in shape)


def packed(number, array):
    return ld(number, array.astype(array.dtype.newbyteorder("<")).tobytes())


# ---- safetensors (the package is not installed: json + numpy) -----------------------------------

_DTYPES = {np.dtype("float64"): "F64", np.dtype("float32"): "F32"}


def save_safetensors(path, tensors, metadata):
    import json
    header = {"__metadata__": dict(metadata)}
    chunks, offset = [], 0
    for name, array in tensors.items():
        data = np.array(array, order="C").astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for data in chunks:
            f.write(data)


# ---- the tiny net -----------------------------------------------------------------------------

SHAPES = {"conv1.weight": (4, 3, 3, 3), "conv1.bias": (4,), "conv2.weight": (6, 4, 1, 1),
          "conv2.bias": (6,), "fc.weight": (3, 24), "fc.bias": (3,)}
RNG = np.random.RandomState(20240607)


def params(names, double=()):
    """Fresh random values for the named parameters (float32, or float64 for those in double)."""
    out = {}
    for n in names:
        v = RNG.standard_normal(SHAPES[n])
        out[n] = v if n in double else v.astype(np.float32)
    return out


def legacy_blob(blob, dims, values):
    blob.num, blob.channels, blob.height, blob.width = dims
    blob.data.extend(values.ravel().tolist())


def shaped_blob(blob, values):
    blob.shape.dim.extend(values.shape)
    blob.data.extend(values.ravel().tolist())


def v1_tiny(p):
    net = pb.NetParameter()
    net.name = "tiny_v1"

    def layer(name, type_, bottom, top):
        l = net.layers.add()
        l.name, l.type = name, type_
        l.bottom.extend(bottom)
        l.top.extend(top)
        return l

    layer("data", V1.DATA, [], ["data", "label"])
    l = layer("conv1", V1.CONVOLUTION, ["data"], ["conv1"])
    l.blobs_lr.extend([1, 2])
    l.weight_decay.extend([1, 0])
    c = l.convolution_param
    c.num_output = 4
    c.pad.append(1)
    c.kernel_size.append(3)
    c.stride.append(1)
    legacy_blob(l.blobs.add(), (4, 3, 3, 3), p["conv1.weight"])
    legacy_blob(l.blobs.add(), (1, 1, 1, 4), p["conv1.bias"])
    layer("relu1", V1.RELU, ["conv1"], ["conv1"])
    layer("pool1", V1.POOLING, ["conv1"], ["pool1"])
    l = layer("conv2", V1.CONVOLUTION, ["pool1"], ["conv2"])
    l.convolution_param.num_output = 6
    l.convolution_param.kernel_size.append(1)
    legacy_blob(l.blobs.add(), (6, 4, 1, 1), p["conv2.weight"])
    legacy_blob(l.blobs.add(), (1, 1, 1, 6), p["conv2.bias"])
    layer("relu2", V1.RELU, ["conv2"], ["conv2"])
    l = layer("fc", V1.INNER_PRODUCT, ["conv2"], ["fc"])
    l.inner_product_param.num_output = 3
    legacy_blob(l.blobs.add(), (1, 1, 3, 24), p["fc.weight"])
    legacy_blob(l.blobs.add(), (1, 1, 1, 3), p["fc.bias"])
    layer("loss", V1.SOFTMAX_LOSS, ["fc", "label"], ["loss"])
    return net


def find(net, name):
    for l in list(net.layers) + list(net.layer):
        if l.name == name:
            return l
    raise KeyError(name)


def v2_layer(net, name, type_, bottom, top):
    l = net.layer.add()
    l.name, l.type = name, type_
    l.bottom.extend(bottom)
    l.top.extend(top)
    return l


def v2_tiny(p):
    net = pb.NetParameter()
    net.name = "tiny_v2"
    v2_layer(net, "data", "Input", [], ["data"])
    l = v2_layer(net, "conv1", "Convolution", ["data"], ["conv1"])
    c = l.convolution_param
    c.num_output = 4
    c.kernel_h, c.kernel_w, c.pad_h, c.pad_w, c.stride_h, c.stride_w = 3, 3, 1, 1, 1, 1
    shaped_blob(l.blobs.add(), p["conv1.weight"])
    shaped_blob(l.blobs.add(), p["conv1.bias"])
    v2_layer(net, "relu1", "ReLU", ["conv1"], ["conv1"])
    v2_layer(net, "pool1", "Pooling", ["conv1"], ["pool1"])
    l = v2_layer(net, "conv2", "Convolution", ["pool1"], ["conv2"])
    l.convolution_param.num_output = 6
    l.convolution_param.kernel_size.append(1)
    l.convolution_param.bias_term = False
    shaped_blob(l.blobs.add(), p["conv2.weight"])
    v2_layer(net, "relu2", "ReLU", ["conv2"], ["conv2"])
    v2_layer(net, "flatten", "Flatten", ["conv2"], ["flat"])
    l = v2_layer(net, "fc", "InnerProduct", ["flat"], ["fc"])
    l.inner_product_param.num_output = 3
    shaped_blob(l.blobs.add(), p["fc.weight"])
    shaped_blob(l.blobs.add(), p["fc.bias"])
    v2_layer(net, "prob", "Softmax", ["fc"], ["prob"])
    return net


def v2_unpacked(p):
    """The v2 net with every blob encoded by hand (see the module docstring)."""
    base = v2_tiny({k: np.zeros(SHAPES[k], np.float32) for k in SHAPES})
    out = b""
    for l in base.layer:
        head = pb.LayerParameter()
        head.CopyFrom(l)
        del head.blobs[:]
        if l.name == "conv1":
            w, b = p["conv1.weight"], p["conv1.bias"]
            wblob = ld(7, unpacked_dims(w.shape)) + unpacked_floats(5, w.ravel())
            bblob = (b"".join(tag(n, 0) + varint(d) for n, d in zip((1, 2, 3, 4), (1, 1, 1, 4))) +
                     packed(8, b))
            body = head.SerializeToString() + ld(7, wblob) + ld(7, bblob)
        elif l.name == "conv2":
            w = p["conv2.weight"]
            wblob = ld(7, unpacked_dims(w.shape)) + unpacked_doubles(8, w.ravel())
            body = head.SerializeToString() + ld(7, wblob)
        elif l.name == "fc":
            w, b = p["fc.weight"], p["fc.bias"]
            flat = w.ravel()
            wblob = ld(7, unpacked_dims(w.shape)) + packed(5, flat[:40]) + packed(5, flat[40:])
            bblob = unpacked_floats(5, b) + ld(7, tag(1, 0) + varint(3))
            head.ClearField("name")
            body = head.SerializeToString() + ld(7, wblob) + ld(7, bblob) + ld(1, b"fc")
        else:
            body = head.SerializeToString()
        out += ld(100, body)
    return ld(1, b"tiny_v2_unpacked") + out


def check_unpacked(data, p):
    """libprotobuf's parser reads the hand-encoded file as the values it was made from."""
    net = pb.NetParameter.FromString(data)
    got = {}
    for l in net.layer:
        for i, b in enumerate(l.blobs):
            got["%s.%s" % (l.name, ("weight", "bias")[i])] = np.array(
                list(b.data) or list(b.double_data))
    assert sorted(got) == sorted(p), sorted(got)
    for k, v in p.items():
        assert np.array_equal(got[k], v.ravel()), k


# ---- malformed files ----------------------------------------------------------------------------


def top_level_fields(data):
    """(tag offset, length offset, payload offset, payload length) of each top-level field."""
    out, pos = [], 0
    while pos < len(data):
        start = pos
        key, pos = read_varint(data, pos)
        assert key & 7 == 2, "the fixtures' top level holds only length-delimited fields"
        len_at = pos
        n, pos = read_varint(data, pos)
        out.append((start, len_at, pos, n))
        pos += n
    return out


def read_varint(data, pos):
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def layer_bytes(layer):
    return ld(2, layer.SerializeToString())


def malformed(p):
    """name -> bytes. The comment of each says what the reader must report."""
    good = v1_tiny(p)
    data = good.SerializeToString()
    fields = top_level_fields(data)
    conv1 = fields[2]  # [name, data, conv1, ...]
    assert conv1[3] > 127, "conv1 must have a 2-byte length for the truncation cases"
    files = {}

    # Truncations: inside a length varint, right after a tag, inside blob data, and at a field
    # boundary (a valid file that lacks the later layers).
    files["truncated_in_length_varint"] = data[:conv1[1] + 1]
    files["truncated_after_tag"] = data[:conv1[1]]
    files["truncated_in_blob_data"] = data[:conv1[2] + conv1[3] // 2]
    files["truncated_before_conv2"] = data[:fields[5][0]]  # name, data, conv1, relu1, pool1 | conv2

    # conv1's bias blob claims 127 bytes: more than conv1 has left, less than the file has.
    conv1_msg = find(good, "conv1")
    body = conv1_msg.SerializeToString()
    bias_field = ld(6, conv1_msg.blobs[1].SerializeToString())
    at = body.index(bias_field)
    assert bias_field[1] < 127 and len(body) - (at + 2) < 127 < len(data) - conv1[2] - at - 2
    bad_body = body[:at + 1] + varint(127) + body[at + 2:]
    files["length_past_end_of_message"] = (data[:conv1[0]] + ld(2, bad_body) +
                                           data[conv1[2] + conv1[3]:])
    files["length_2pow40"] = data[:conv1[0]] + tag(2, 2) + varint(1 << 40) + b"\0" * 64

    # Wire types 3, 4 (groups), 6, 7 (undefined) as the first field of conv1; a field number 0;
    # a varint of 11 bytes; the layer name as a varint.
    for wire in (3, 4, 6, 7):
        files["wire_type_%d" % wire] = (data[:conv1[0]] + ld(2, tag(20, wire) + body) +
                                        data[conv1[2] + conv1[3]:])
    files["field_number_0"] = data[:conv1[0]] + ld(2, tag(0, 0) + varint(1) + body) + data[conv1[2] + conv1[3]:]
    files["varint_11_bytes"] = (data[:conv1[0]] + ld(2, tag(20, 0) + b"\xff" * 10 + b"\x01" + body) +
                                data[conv1[2] + conv1[3]:])
    files["name_as_varint"] = (data[:conv1[0]] + ld(2, tag(4, 0) + varint(5) + body) +
                               data[conv1[2] + conv1[3]:])
    # Packed float data of 15 bytes in conv1's bias.
    bad_bias = (b"".join(tag(n, 0) + varint(v) for n, v in ((1, 1), (2, 1), (3, 1), (4, 4))) +
                ld(5, b"\0" * 15))
    bad_body = body[:at] + ld(6, bad_bias) + body[at + len(bias_field):]
    files["packed_floats_15_bytes"] = data[:conv1[0]] + ld(2, bad_body) + data[conv1[2] + conv1[3]:]

    def variant(name, mutate):
        net = v1_tiny(p)
        mutate(net)
        files[name] = net.SerializeToString()

    def v0(net):
        l = find(net, "conv1")
        l.layer.name = "conv1"
        l.layer.type = "conv"
        l.layer.blobs.add().CopyFrom(l.blobs[0])

    variant("v0_format", v0)

    def mixed(net):
        v2_layer(net, "extra", "ReLU", [], [])

    variant("mixed_v1_and_v2_layers", mixed)

    def wrong_shape(net):
        b = find(net, "conv1").blobs[0]
        b.width = 2
        del b.data[72:]

    variant("conv1_weight_shape_4x3x3x2", wrong_shape)

    def fc_shape(net):
        b = find(net, "fc").blobs[0]
        b.num, b.channels, b.height, b.width = 1, 3, 1, 24

    variant("fc_weight_shape_1x3x1x24", fc_shape)

    def count_mismatch(net):
        del find(net, "conv1").blobs[0].data[100:]

    variant("blob_count_mismatch", count_mismatch)

    def negative_dim(net):
        b = find(net, "conv1").blobs[0]
        b.ClearField("num")
        b.ClearField("channels")
        b.ClearField("height")
        b.ClearField("width")
        b.shape.dim.extend([-4, 3, 3, 3])

    variant("blob_negative_dim", negative_dim)

    def both_data(net):
        find(net, "conv1").blobs[1].double_data.extend([1.0] * 4)

    variant("blob_data_and_double_data", both_data)

    variant("conv2_missing_bias_blob", lambda net: find(net, "conv2").blobs.pop())
    variant("conv1_extra_blob",
            lambda net: find(net, "conv1").blobs.add().CopyFrom(find(net, "conv1").blobs[1]))

    def group2(net):
        l = find(net, "conv2")
        l.convolution_param.group = 2
        l.blobs[0].channels = 2
        del l.blobs[0].data[12:]

    variant("conv2_group_2", group2)

    def pooling_type(net):
        find(net, "conv2").type = V1.POOLING

    variant("conv2_type_pooling", pooling_type)

    def stride2(net):
        find(net, "conv1").convolution_param.stride[0] = 2

    variant("conv1_stride_2", stride2)

    def pad0(net):
        find(net, "conv1").convolution_param.pad[0] = 0

    variant("conv1_pad_0", pad0)
    variant("conv1_num_output_8",
            lambda net: setattr(find(net, "conv1").convolution_param, "num_output", 8))
    variant("conv1_bias_term_false",
            lambda net: setattr(find(net, "conv1").convolution_param, "bias_term", False))
    variant("fc_num_output_5",
            lambda net: setattr(find(net, "fc").inner_product_param, "num_output", 5))
    variant("fc_transpose",
            lambda net: setattr(find(net, "fc").inner_product_param, "transpose", True))

    def duplicate(net):
        net.layers.add().CopyFrom(find(net, "conv1"))

    variant("duplicate_layer_conv1", duplicate)

    # conv2 with the V1 type enum value 99, which Caffe does not define (the generated API refuses
    # to set it, so it is appended by hand: a later field overrides an earlier one).
    raw = v1_tiny(p).SerializeToString()
    conv2 = top_level_fields(raw)[5]
    files["conv2_unknown_v1_type_99"] = (raw[:conv2[0]] +
                                         ld(2, raw[conv2[2]:conv2[2] + conv2[3]] + tag(5, 0) + varint(99)) +
                                         raw[conv2[2] + conv2[3]:])
    return files


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "tests", "data")
    bad_dir = os.path.join(out_dir, "caffe")
    os.makedirs(bad_dir, exist_ok=True)
    expected = {}

    def write(path, data):
        with open(path, "wb") as f:
            f.write(data)
        print("wrote %s: %d bytes" % (os.path.relpath(path), len(data)))

    p1 = params(SHAPES)
    write(os.path.join(out_dir, "caffe_v1_tiny.caffemodel"), v1_tiny(p1).SerializeToString())
    p2 = params([n for n in SHAPES if n != "conv2.bias"])
    write(os.path.join(out_dir, "caffe_v2_tiny.caffemodel"), v2_tiny(p2).SerializeToString())
    p3 = params([n for n in SHAPES if n != "conv2.bias"], double=("conv1.bias", "conv2.weight"))
    unpacked = v2_unpacked(p3)
    check_unpacked(unpacked, p3)
    write(os.path.join(out_dir, "caffe_v2_unpacked.caffemodel"), unpacked)
    for stem, p in (("caffe_v1_tiny", p1), ("caffe_v2_tiny", p2), ("caffe_v2_unpacked", p3)):
        for name, v in p.items():
            expected["%s/%s" % (stem, name)] = v
    save_safetensors(os.path.join(out_dir, "caffe_expected.safetensors"), expected,
                     {"generator": "tools/make_caffe_fixtures.py"})
    print("wrote caffe_expected.safetensors")

    for name, data in sorted(malformed(p1).items()):
        assert len(data) < 10 * 1024, name
        write(os.path.join(bad_dir, name + ".caffemodel"), data)


if __name__ == "__main__":
    main()
