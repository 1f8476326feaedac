#!/usr/bin/python3
"""Writes the seed corpora of the loader fuzz targets: fuzz/corpus/<loader>/ for safetensors,
caffemodel, idx and image (fuzz/*_fuzz.cpp, run by tools/fuzz.sh; every file is also a Catch2 case
of tests/io/fuzz_corpus_test.cpp).

    /usr/bin/python3 tools/make_fuzz_corpus.py [corpus_dir]   (default: fuzz/corpus next to tools/)

Every file is named by what it is: valid_* must load, bad_* must be refused with tinycnn::Error,
the rest of the name says what is wrong with it ("bad_offsets_overlapping.safetensors"). Valid files
are small ones of tests/data (copied) and files written here; malformed ones are written here, from
scratch or as a named defect applied to a valid one, and tests/data/caffe/*.caffemodel (each
malformed for the fixture net) are copied in as bad_<name>. Files libFuzzer found and
`tools/fuzz.sh keep` added (valid_found_* / bad_found_*) are left alone; every other valid_*/bad_*
file is rewritten, and one no longer written here is removed.

Needs only the standard library and numpy (no safetensors, protobuf or imaging package: the
formats are written by hand). Deterministic: the same bytes on every run (gzip with mtime 0 and
zlib level 9; values from numpy's RandomState with fixed seeds). Every file is below 64 KiB.
"""

import gzip
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "tests", "data")
MAX_BYTES = 64 * 1024


def write_all(out_dir, loader, files):
    """files: name -> bytes. Rewrites the generated files of one loader."""
    d = os.path.join(out_dir, loader)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        generated = name.startswith(("valid_", "bad_")) and "_found_" not in name
        if generated and name not in files:
            os.remove(os.path.join(d, name))
    for name, data in sorted(files.items()):
        assert name.startswith(("valid_", "bad_")), name
        assert len(data) < MAX_BYTES, (name, len(data))
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{loader}: {len(files)} files in {d}")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


# ---- safetensors -------------------------------------------------------------------------------

def st_file(header, data=b"", length=None, pad=True):
    """A safetensors file from a header (dict, or raw JSON text as bytes) and a data buffer."""
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


def st_tensors(tensors, metadata=None):
    """A valid file of (name, dtype, shape, little-endian bytes), in order."""
    header, chunks, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    return st_file(header, b"".join(chunks))


def safetensors_corpus():
    rng = np.random.RandomState(1)
    f32 = rng.standard_normal(6).astype("<f4").tobytes()
    every = [
        ("f64", "F64", (2,), np.array([1.5, -2.25], "<f8").tobytes()),
        ("f32", "F32", (2, 3), f32),
        ("f16", "F16", (3,), np.array([1.0, -0.5, 65504.0], "<f2").tobytes()),
        ("bf16", "BF16", (2,), bytes.fromhex("803f00c0")),  # 1.0, -2.0
        ("i64", "I64", (2,), np.array([-(2 ** 62), 7], "<i8").tobytes()),
        ("i32", "I32", (1, 2), np.array([-5, 2 ** 30], "<i4").tobytes()),
        ("i16", "I16", (2,), np.array([-300, 300], "<i2").tobytes()),
        ("i8", "I8", (3,), np.array([-128, 0, 127], "i1").tobytes()),
        ("u8", "U8", (2, 2), bytes([0, 1, 128, 255])),
        ("bool", "BOOL", (3,), bytes([0, 1, 1])),
    ]
    one = {"t": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}

    def one_with(**fields):
        h = {"t": dict(one["t"], **fields)}
        return st_file(h, f32)

    two_overlap = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                   "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}
    two_gap = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
               "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}
    valid_every = st_tensors(every, {"format": "pt", "seed": "1"})
    files = {
        "valid_f32_2x3.safetensors": st_tensors([("t", "F32", (2, 3), f32)]),
        "valid_every_dtype_with_metadata.safetensors": valid_every,
        "valid_scalar_and_empty_tensors.safetensors": st_tensors(
            [("scalar", "F64", (), np.array([3.0], "<f8").tobytes()),
             ("empty", "F32", (0, 3), b""), ("after", "U8", (1,), b"\x07")]),
        "valid_no_tensors.safetensors": st_file({}),
        "valid_only_metadata.safetensors": st_file({"__metadata__": {"a": "b"}}),
        "valid_header_unpadded.safetensors": st_file(one, f32, pad=False),
        "valid_caffe_expected_fixture.safetensors": read(os.path.join(DATA, "caffe_expected.safetensors")),
        # The length field and the header.
        "bad_empty_file.safetensors": b"",
        "bad_truncated_in_length_field.safetensors": struct.pack("<Q", 32)[:5],
        "bad_header_too_large.safetensors": st_file(one, f32, length=100_000_001),
        "bad_header_length_2pow64_minus_1.safetensors": st_file(one, f32, length=2 ** 64 - 1),
        "bad_header_length_past_end.safetensors": st_file(one, f32, length=len(f32) + 200),
        "bad_truncated_in_header.safetensors": st_file(one, f32)[:20],
        "bad_header_length_0.safetensors": st_file(b"", b"", length=0),
        "bad_header_not_json.safetensors": st_file(b"{\"t\": nope}"),
        "bad_header_json_truncated.safetensors": st_file(b"{\"t\":{\"dtype\":\"F32\",\"sha"),
        "bad_header_json_array.safetensors": st_file(b"[1,2,3]"),
        "bad_header_json_nul_bytes.safetensors": st_file(b"{}\x00\x00\x00\x00\x00\x00"),
        "bad_wrong_magic_png.safetensors": read(os.path.join(DATA, "images", "grey.png")),
        # The data buffer.
        "bad_truncated_in_data.safetensors": st_tensors([("t", "F32", (2, 3), f32)])[:-5],
        "bad_truncated_every_dtype_in_data.safetensors": valid_every[:-1],
        "bad_trailing_bytes.safetensors": st_tensors([("t", "F32", (2, 3), f32)]) + b"\0" * 4,
        "bad_offsets_overlapping.safetensors": st_file(two_overlap, b"\0" * 24),
        "bad_offsets_gap.safetensors": st_file(two_gap, b"\0" * 24),
        "bad_offsets_past_end.safetensors": one_with(data_offsets=[0, 24]).replace(b"[0,24]", b"[8,32]"),
        "bad_offsets_2pow64_minus_1.safetensors": st_file(
            {"t": {"dtype": "U8", "shape": [1], "data_offsets": [2 ** 64 - 2, 2 ** 64 - 1]}}, b"\0"),
        "bad_offsets_end_before_begin.safetensors": one_with(data_offsets=[24, 0]),
        "bad_offsets_negative.safetensors": one_with(data_offsets=[-24, 0]),
        "bad_offsets_float.safetensors": one_with(data_offsets=[0.0, 24.0]),
        "bad_offsets_three_values.safetensors": one_with(data_offsets=[0, 12, 24]),
        "bad_offsets_not_array.safetensors": one_with(data_offsets="0-24"),
        "bad_size_mismatch_shape_2x3_20_bytes.safetensors": st_file(
            {"t": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}, f32[:20]),
        # Shapes.
        "bad_shape_product_overflows_64_bits.safetensors": one_with(shape=[2 ** 32, 2 ** 32, 2]),
        "bad_shape_product_overflows_with_zero_after.safetensors": one_with(
            shape=[2 ** 32, 2 ** 32, 2, 0]),
        "bad_shape_bytes_overflow_64_bits_f64.safetensors": st_file(
            {"t": {"dtype": "F64", "shape": [2 ** 61], "data_offsets": [0, 0]}}),
        "bad_shape_dim_2pow63.safetensors": one_with(shape=[2 ** 63]),
        "bad_shape_negative_dim.safetensors": one_with(shape=[-2, -3]),
        "bad_shape_zero_dim_with_bytes.safetensors": one_with(shape=[0, 3]),
        "bad_shape_float_dim.safetensors": one_with(shape=[2.0, 3]),
        "bad_shape_not_array.safetensors": one_with(shape=6),
        "bad_shape_rank_9.safetensors": st_file(
            {"t": {"dtype": "U8", "shape": [1] * 9, "data_offsets": [0, 1]}}, b"\0"),
        # Entries.
        "bad_wrong_dtype_F8.safetensors": one_with(dtype="F8"),
        "bad_wrong_dtype_lowercase_f32.safetensors": one_with(dtype="f32"),
        "bad_wrong_dtype_number.safetensors": one_with(dtype=4),
        "bad_missing_dtype.safetensors": st_file({"t": {"shape": [2, 3], "data_offsets": [0, 24]}}, f32),
        "bad_unknown_field.safetensors": one_with(stride=[3, 1]),
        "bad_entry_not_object.safetensors": st_file({"t": [0, 24]}, f32),
        "bad_empty_name.safetensors": st_file({"": one["t"]}, f32),
        "bad_duplicate_name.safetensors": st_file(
            b'{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},'
            b'"t":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}}', f32),
        "bad_metadata_not_object.safetensors": st_file({"__metadata__": "x"}),
        "bad_metadata_value_not_string.safetensors": st_file({"__metadata__": {"n": 1}}),
        "bad_bool_byte_2.safetensors": st_tensors([("b", "BOOL", (2,), b"\x01\x02")]),
    }
    return files


# ---- IDX ---------------------------------------------------------------------------------------

IDX_CODES = {"u8": (0x08, ">u1"), "i8": (0x09, ">i1"), "i16": (0x0B, ">i2"), "i32": (0x0C, ">i4"),
             "f32": (0x0D, ">f4"), "f64": (0x0E, ">f8")}


def idx_header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


def idx_file(kind, dims, values):
    code, dtype = IDX_CODES[kind]
    return idx_header(code, dims) + np.asarray(values).astype(dtype).tobytes()


def idx_corpus():
    rng = np.random.RandomState(2)
    images = idx_file("u8", (3, 4, 5), rng.randint(0, 256, 60))
    labels = idx_file("u8", (7,), rng.randint(0, 10, 7))
    big = idx_file("u8", (2, 28, 28), rng.randint(0, 256, 2 * 28 * 28))
    files = {
        "valid_u8_images_3x4x5.idx": images,
        "valid_u8_labels_7.idx": labels,
        "valid_i8_rank2.idx": idx_file("i8", (2, 3), [-128, -1, 0, 1, 2, 127]),
        "valid_i16_labels.idx": idx_file("i16", (4,), [-32768, -1, 0, 32767]),
        "valid_i32_rank4.idx": idx_file("i32", (1, 2, 1, 2), [-(2 ** 31), -1, 0, 2 ** 31 - 1]),
        "valid_f32_images_2x2x2.idx": idx_file("f32", (2, 2, 2), rng.standard_normal(8)),
        "valid_f64_rank1.idx": idx_file("f64", (3,), [1.5, -np.inf, np.nan]),
        "valid_zero_dim.idx": idx_header(0x08, (0, 5)),
        "valid_rank8.idx": idx_file("u8", (1, 1, 1, 1, 1, 1, 2, 1), [3, 4]),
        "valid_u8_images_2x28x28.idx.gz": gz(big),
        "valid_labels.idx.gz": gz(labels),
        "valid_two_gzip_members.idx.gz": gz(images[:30]) + gz(images[30:]),
        # Raw: header.
        "bad_empty_file.idx": b"",
        "bad_truncated_in_magic.idx": images[:3],
        "bad_wrong_magic.idx": b"\x01\x00" + images[2:],
        "bad_wrong_magic_second_byte.idx": b"\x00\x08" + images[2:],
        "bad_wrong_dtype_0x0a.idx": bytes([0, 0, 0x0A]) + images[3:],
        "bad_wrong_dtype_0xff.idx": bytes([0, 0, 0xFF]) + images[3:],
        "bad_rank_0.idx": bytes([0, 0, 8, 0]),
        "bad_rank_9.idx": idx_file("u8", (1,) * 9, [0]),
        "bad_rank_255.idx": bytes([0, 0, 8, 255]) + b"\0\0\0\1" * 8,
        "bad_truncated_in_dims.idx": images[:10],
        "bad_truncated_after_dims.idx": images[:16],
        # Raw: data.
        "bad_truncated_in_data.idx": images[:-1],
        "bad_truncated_f64_in_element.idx": idx_file("f64", (3,), [1.0, 2.0, 3.0])[:-3],
        "bad_trailing_bytes.idx": images + b"\0",
        "bad_dims_product_overflows_64_bits.idx": idx_header(0x0E, (0xFFFFFFFF,) * 3),
        "bad_dims_product_overflows_then_zero.idx": idx_header(0x08, (0xFFFFFFFF,) * 3 + (0,)),
        "bad_dims_huge_small_file.idx": idx_header(0x0E, (0xFFFFFFFF, 0xFFFFFFFF)) + b"\0" * 16,
        "bad_dims_2pow31.idx": idx_header(0x08, (0x80000000,)) + b"\0" * 8,
        # Gzip.
        "bad_gz_truncated_in_gzip_header.idx.gz": gz(images)[:5],
        "bad_gz_truncated_in_deflate.idx.gz": gz(big)[: len(gz(big)) // 2],
        "bad_gz_truncated_in_trailer.idx.gz": gz(images)[:-3],
        "bad_gz_crc_mismatch.idx.gz": gz(images)[:-8] + b"\0\0\0\0" + gz(images)[-4:],
        "bad_gz_length_mismatch.idx.gz": gz(images)[:-4] + b"\1\0\0\0",
        "bad_gz_corrupt_deflate.idx.gz": gz(images)[:10] + b"\xff" * 8 + gz(images)[18:],
        "bad_gz_garbage_after_member.idx.gz": gz(images) + b"garbage!",
        "bad_gz_wrong_magic_inside.idx.gz": gz(b"\x01\x00" + images[2:]),
        "bad_gz_truncated_idx_inside.idx.gz": gz(images[:-1]),
        "bad_gz_huge_dims_small_stream.idx.gz": gz(idx_header(0x08, (0x7FFFFFFF, 0x7FFFFFFF)) + b"\0" * 64),
        "bad_gz_trailing_megabytes.idx.gz": gz(images + b"\0" * (2 << 20)),
        "bad_gz_empty_stream.idx.gz": gz(b""),
    }
    return files


# ---- Caffe -------------------------------------------------------------------------------------

def varint(n):
    n &= (1 << 64) - 1  # negative values: two's complement in 10 bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def tag(number, wire):
    return varint(number << 3 | wire)


def ld(number, payload):
    return tag(number, 2) + varint(len(payload)) + payload


def vint(number, value):
    return tag(number, 0) + varint(value)


def blob(values, shape=None, legacy=None):
    """A BlobProto: packed float data, with a BlobShape or a legacy (num, channels, height, width)."""
    out = b""
    if legacy is not None:
        out += b"".join(vint(i + 1, d) for i, d in enumerate(legacy))
    if shape is not None:
        out += ld(7, ld(1, b"".join(varint(d) for d in shape)))
    return out + ld(5, np.asarray(values, "<f4").tobytes())


def v2_layer(name, type_, blobs=(), conv=None, ip=None):
    out = ld(1, name.encode()) + ld(2, type_.encode())
    out += b"".join(ld(7, b) for b in blobs)
    if conv is not None:
        out += ld(106, conv)
    if ip is not None:
        out += ld(117, ip)
    return ld(100, out)


def conv_param(num_output, kernel, pad=None, bias=True, extra=b""):
    out = vint(1, num_output) + vint(4, kernel)
    if pad is not None:
        out += vint(3, pad)
    if not bias:
        out += vint(2, 0)
    return out + extra


def v2_net(overrides=None):
    """The fixture net (conv2 without bias) written by hand in the current format; overrides maps a
    layer name to its replacement bytes (b"" drops the layer)."""
    rng = np.random.RandomState(3)
    w1, b1 = rng.standard_normal(108), rng.standard_normal(4)
    w2 = rng.standard_normal(24)
    wf, bf = rng.standard_normal(72), rng.standard_normal(3)
    layers = [
        ("data", v2_layer("data", "Input")),
        ("conv1", v2_layer("conv1", "Convolution", [blob(w1, (4, 3, 3, 3)), blob(b1, (4,))],
                           conv=conv_param(4, 3, pad=1))),
        ("relu1", v2_layer("relu1", "ReLU")),
        ("pool1", v2_layer("pool1", "Pooling")),
        ("conv2", v2_layer("conv2", "Convolution", [blob(w2, (6, 4, 1, 1))],
                           conv=conv_param(6, 1, bias=False))),
        ("relu2", v2_layer("relu2", "ReLU")),
        ("flatten", v2_layer("flatten", "Flatten")),
        ("fc", v2_layer("fc", "InnerProduct", [blob(wf, (3, 24)), blob(bf, (3,))],
                        ip=vint(1, 3))),
        ("prob", v2_layer("prob", "Softmax")),
    ]
    overrides = overrides or {}
    return ld(1, b"tiny_handmade") + b"".join(overrides.get(n, l) for n, l in layers)


def top_level_fields(data):
    """(start, end) of each top-level field of a message whose fields are all length-delimited or
    varints."""
    out, i = [], 0
    while i < len(data):
        start = i
        key = 0
        shift = 0
        while True:
            b = data[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        wire = key & 7
        n = 0
        shift = 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if wire == 2:
            i += n
        else:
            assert wire == 0
        out.append((start, i))
    return out


def caffe_corpus():
    rng = np.random.RandomState(4)
    w1 = rng.standard_normal(108)
    files = {
        "valid_v1_tiny_fixture.caffemodel": read(os.path.join(DATA, "caffe_v1_tiny.caffemodel")),
        "valid_v2_tiny_fixture.caffemodel": read(os.path.join(DATA, "caffe_v2_tiny.caffemodel")),
        "valid_v2_unpacked_fixture.caffemodel": read(os.path.join(DATA, "caffe_v2_unpacked.caffemodel")),
        "valid_v2_handmade.caffemodel": v2_net(),
        # A blob of no elements whose packed data field is empty (zero bytes read into nothing).
        "valid_layer_with_empty_packed_blob.caffemodel": v2_net(
            {"prob": v2_layer("prob", "Softmax") + v2_layer("empty", "Dummy", [blob([], (0,))])}),
        "bad_empty_file.caffemodel": b"",
        "bad_wrong_magic_png.caffemodel": read(os.path.join(DATA, "images", "grey.png")),
        "bad_wrong_magic_safetensors.caffemodel": read(os.path.join(DATA, "caffe_expected.safetensors")),
        "bad_layer_unknown_type_Frobnicate.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Frobnicate", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=conv_param(6, 1, bias=False))}),
        "bad_layer_missing_conv1.caffemodel": v2_net({"conv1": b""}),
        "bad_layer_type_empty.caffemodel": v2_net(
            {"relu1": b"", "conv1": v2_layer("conv1", "", [blob(w1, (4, 3, 3, 3))])}),
        "bad_blob_shape_product_overflows.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [blob([], (2 ** 40, 2 ** 40))])}),
        "bad_blob_shape_product_overflows_then_zero.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [blob([], (2 ** 40, 2 ** 40, 0))])}),
        "bad_blob_shape_33_dims.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [blob([0.0], (1,) * 33)])}),
        "bad_blob_negative_dim_blobshape.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [blob(w1, (-4, 3, 3, 3))])}),
        "bad_blob_zero_dim_with_data.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [blob(w1, (0, 3, 3, 3))])}),
        "bad_blob_zero_dims_no_data.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [blob([], (0, 3, 3, 3)), blob([], (0,))],
                               conv=conv_param(4, 3, pad=1))}),
        "bad_blob_legacy_dim_beyond_int32.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [blob(w1, legacy=(2 ** 40, 1, 1, 1))])}),
        "bad_blob_legacy_negative_dim.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [blob(w1, legacy=(-1, 3, 3, 3))])}),
        "bad_blob_float_data_wrong_wire_type.caffemodel": v2_net(
            {"conv1": v2_layer("conv1", "Convolution", [vint(5, 7)])}),
        "bad_conv_kernel_size_3_values.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Convolution", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=conv_param(6, 1, bias=False, extra=vint(4, 1) + vint(4, 1)))}),
        "bad_conv_kernel_h_without_kernel_w.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Convolution", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=vint(1, 6) + vint(2, 0) + vint(11, 1))}),
        "bad_conv_kernel_size_and_kernel_h.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Convolution", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=conv_param(6, 1, bias=False, extra=vint(11, 1) + vint(12, 1)))}),
        "bad_conv_no_kernel.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Convolution", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=vint(1, 6) + vint(2, 0))}),
        "bad_conv_stride_0.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Convolution", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=conv_param(6, 1, bias=False, extra=vint(6, 0)))}),
        "bad_conv_dilation_0.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Convolution", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=conv_param(6, 1, bias=False, extra=vint(18, 0)))}),
        "bad_conv_pad_beyond_uint32.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Convolution", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=conv_param(6, 1, bias=False, extra=vint(3, 2 ** 33)))}),
        "bad_conv_packed_pad_truncated_varint.caffemodel": v2_net(
            {"conv2": v2_layer("conv2", "Convolution", [blob(rng.standard_normal(24), (6, 4, 1, 1))],
                               conv=conv_param(6, 1, bias=False, extra=ld(3, b"\x80")))}),
        "bad_ip_num_output_beyond_uint32.caffemodel": v2_net(
            {"fc": v2_layer("fc", "InnerProduct", [blob(rng.standard_normal(72), (3, 24)),
                                                    blob(rng.standard_normal(3), (3,))],
                            ip=vint(1, 2 ** 32 + 3))}),
    }
    # Truncated in every top-level section (each layer, and the net name) of both formats.
    for stem, data in (("v1", read(os.path.join(DATA, "caffe_v1_tiny.caffemodel"))),
                       ("v2", v2_net())):
        for k, (start, end) in enumerate(top_level_fields(data)):
            files[f"bad_{stem}_truncated_in_field_{k}.caffemodel"] = data[: (start + end + 1) // 2]
    for name in sorted(os.listdir(os.path.join(DATA, "caffe"))):
        files["bad_" + name] = read(os.path.join(DATA, "caffe", name))
    return files


# ---- images ------------------------------------------------------------------------------------

def png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload +
            struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def png(width, height, bit_depth, color_type, rows, ihdr=None, extra=b"", idat=None):
    """A PNG of filter-0 rows (bytes each), or with the IHDR/IDAT payloads given."""
    ihdr = ihdr or struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"".join(b"\0" + r for r in rows), 9)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", idat) +
            png_chunk(b"IEND", b""))


def bmp24(width, height, pixels, declared=None):
    """A bottom-up 24-bit BMP (BITMAPINFOHEADER); declared (w, h) overrides the header only."""
    stride = (width * 3 + 3) & ~3
    data = b"".join(bytes(pixels[y * width * 3:(y + 1) * width * 3]) + b"\0" * (stride - width * 3)
                    for y in range(height))
    w, h = declared or (width, height)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + 40 + len(data), 0, 0, 54)
    return head + info + data


def jpeg_segments(data):
    """(marker, start, end) of every segment before the first scan's entropy data, and the SOS."""
    out, i = [], 2
    while True:
        assert data[i] == 0xFF
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        out.append((marker, i, i + 2 + length))
        i += 2 + length
        if marker == 0xDA:
            return out


def jpeg_set_size(data, width, height):
    for marker, start, _ in jpeg_segments(data):
        if marker in (0xC0, 0xC1, 0xC2):
            return data[:start + 5] + struct.pack(">HH", height, width) + data[start + 9:]
    raise ValueError("no SOF")


def jpeg_scan_tables(data, selector):
    """The first scan's components all set to the Huffman tables of selector (DC << 4 | AC)."""
    _, start, end = jpeg_segments(data)[-1]
    seg = bytearray(data[start:end])
    for k in range(seg[4]):
        seg[6 + 2 * k] = selector
    return data[:start] + bytes(seg) + data[end:]


def image_corpus():
    images = os.path.join(DATA, "images")
    files = {"valid_" + n: read(os.path.join(images, n)) for n in sorted(os.listdir(images))}
    rng = np.random.RandomState(5)
    rgb = rng.randint(0, 256, 5 * 4 * 3).astype(np.uint8).tobytes()
    rows = [rgb[y * 15:(y + 1) * 15] for y in range(4)]
    good_png = png(5, 4, 8, 2, rows)
    jpg = read(os.path.join(images, "smooth.jpg"))
    pjpg = read(os.path.join(images, "smooth_progressive.jpg"))
    bmp = bmp24(5, 4, rgb)
    ppm = b"P6\n5 4\n255\n" + rgb
    segs = {m: (s, e) for m, s, e in jpeg_segments(jpg)}
    sos_start, sos_end = segs[0xDA]
    files.update({
        "valid_handmade_rgb_5x4.png": good_png,
        "valid_handmade_grey_1bit.png": png(9, 2, 1, 0, [b"\xaa\x80", b"\x55\x00"]),
        "valid_handmade_palette_2bit.png": png(4, 1, 2, 3, [b"\x1b"],
                                               extra=png_chunk(b"PLTE", bytes(range(12)))),
        "valid_handmade_rgb16.png": png(2, 1, 16, 2, [bytes(range(12))]),
        "valid_handmade_empty_idat_before_data.png": png(5, 4, 8, 2, rows,
                                                         extra=png_chunk(b"IDAT", b"")),
        "valid_handmade_rgb_5x4.bmp": bmp,
        "valid_handmade_rgb_5x4.ppm": ppm,
        "valid_handmade_comment.pgm": b"P5\n# a comment\n3 2\n255\n" + bytes(range(6)),
        "valid_handmade_16bit.pgm": b"P5 2 1 65535\n" + b"\x12\x34\xff\xff",
        "valid_handmade_16bit_rgb.ppm": b"P6 2 1 1000\n" + bytes(range(0, 240, 20)),
        # Any format.
        "bad_empty_file.png": b"",
        "bad_wrong_magic_text.png": b"hello, this is not an image\n",
        "bad_wrong_magic_gif.gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "bad_wrong_magic_tga.tga": b"\0\0\2\0\0\0\0\0\0\0\0\0\1\0\1\0\x18\0\xff\0\0",
        # PNG.
        "bad_png_wrong_signature.png": b"\x89PNX" + good_png[4:],
        "bad_png_truncated_in_signature.png": good_png[:5],
        "bad_png_truncated_in_ihdr.png": good_png[:20],
        "bad_png_truncated_in_idat.png": good_png[:50],
        "bad_png_truncated_before_iend.png": good_png[:-12],
        "bad_png_no_idat.png": b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", good_png[16:29]) +
                               png_chunk(b"IEND", b""),
        "bad_png_zero_width.png": png(0, 4, 8, 2, rows),
        "bad_png_zero_height.png": png(5, 0, 8, 2, rows),
        "bad_png_width_2pow31.png": png(2 ** 31, 4, 8, 2, rows),
        "bad_png_dims_too_many_pixels.png": png(40000, 40000, 8, 2, rows),
        "bad_png_dims_huge_idat_tiny.png": png(16000, 16000, 8, 2, rows),
        "bad_png_bit_depth_3.png": png(5, 4, 3, 2, rows),
        "bad_png_cgbi_before_ihdr_dims_huge.png": (good_png[:8] + png_chunk(b"CgBI", b"\x50\x00\x20\x02") +
                                                   png(16000, 16000, 8, 6, rows)[8:]),
        "bad_png_color_type_5.png": png(5, 4, 8, 5, rows),
        "bad_png_chunk_length_past_end.png": good_png[:33] + b"\x7f" + good_png[34:],
        "bad_png_idat_corrupt_zlib.png": png(5, 4, 8, 2, rows, idat=b"\x78\x9c" + b"\xff" * 20),
        "bad_png_idat_too_short.png": png(5, 4, 8, 2, rows[:2]),
        "bad_png_palette_missing.png": png(4, 1, 8, 3, [b"\0\1\2\3"]),
        "bad_png_bad_filter_type.png": png(5, 4, 8, 2, rows, idat=zlib.compress(
            b"".join(b"\x07" + r for r in rows), 9)),
        # JPEG.
        "bad_jpeg_wrong_soi.jpg": b"\xff\xd9" + jpg[2:],
        "bad_jpeg_truncated_after_soi.jpg": jpg[:2],
        "bad_jpeg_truncated_in_dqt.jpg": jpg[:segs[0xDB][0] + 10],
        "bad_jpeg_truncated_in_sof.jpg": jpg[:segs[0xC0][0] + 8],
        "bad_jpeg_truncated_in_dht.jpg": jpg[:segs[0xC4][0] + 12],
        "bad_jpeg_truncated_in_sos_header.jpg": jpg[:segs[0xDA][0] + 6],
        "bad_jpeg_truncated_at_scan_start.jpg": jpg[:sos_end],
        "bad_jpeg_truncated_in_scan.jpg": jpg[:(sos_end + len(jpg)) // 2],
        "bad_jpeg_truncated_before_eoi.jpg": jpg[:-2],
        "bad_jpeg_progressive_truncated_in_scans.jpg": pjpg[:len(pjpg) // 2],
        "bad_jpeg_zero_width.jpg": jpeg_set_size(jpg, 0, 16),
        "bad_jpeg_zero_height.jpg": jpeg_set_size(jpg, 24, 0),
        "bad_jpeg_dims_huge_scan_tiny.jpg": jpeg_set_size(jpg, 65000, 16000),
        "bad_jpeg_dims_large_scan_tiny.jpg": jpeg_set_size(jpg, 4000, 3000),
        "bad_jpeg_no_sof.jpg": jpg[:segs[0xC0][0]] + jpg[segs[0xC0][1]:],
        "bad_jpeg_no_dht.jpg": jpg[:segs[0xC4][0]] + jpg[segs[0xC4][1]:],
        "bad_jpeg_no_dqt.jpg": jpg[:segs[0xDB][0]] + jpg[segs[0xDB][1]:],
        "bad_jpeg_dht_more_than_256_codes.jpg": (jpg[:segs[0xC4][0] + 5] + b"\x20" * 16 +
                                                 jpg[segs[0xC4][0] + 21:]),
        "bad_jpeg_no_dht_padding_before_sos.jpg": (jpg[:segs[0xC4][0]] + jpg[segs[0xC4][1]:sos_start] +
                                                   b"\0\0" + jpg[sos_start:]),
        "bad_jpeg_fill_bytes_before_soi_dims_huge.jpg": b"\xff\xff" + jpeg_set_size(jpg, 4000, 3000),
        "valid_jpeg_fill_bytes_before_soi.jpg": b"\xff\xff" + jpg,
        "bad_jpeg_scan_uses_undefined_tables.jpg": jpeg_scan_tables(jpg, 0x33),
        # BMP.
        "bad_bmp_wrong_magic.bmp": b"BX" + bmp[2:],
        "bad_bmp_truncated_in_file_header.bmp": bmp[:10],
        "bad_bmp_truncated_in_info_header.bmp": bmp[:30],
        "bad_bmp_truncated_in_pixels.bmp": bmp[:-20],
        "bad_bmp_no_pixels.bmp": bmp[:54],
        "bad_bmp_zero_width.bmp": bmp24(5, 4, rgb, declared=(0, 4)),
        "bad_bmp_negative_width.bmp": bmp24(5, 4, rgb, declared=(-5, 4)),
        "bad_bmp_dims_huge_pixels_tiny.bmp": bmp24(5, 4, rgb, declared=(20000, 20000)),
        "bad_bmp_bpp_7.bmp": bmp[:28] + struct.pack("<H", 7) + bmp[30:],
        "bad_bmp_bpp_0_dims_huge.bmp": bmp24(5, 4, rgb, declared=(16000, 16000))[:28] +
                                       struct.pack("<H", 0) + bmp[30:],
        "bad_bmp_rle8_compression.bmp": bmp[:28] + struct.pack("<HI", 8, 1) + bmp[34:],
        "bad_bmp_pixel_offset_past_end.bmp": bmp[:10] + struct.pack("<I", 100000) + bmp[14:],
        # PNM.
        "bad_ppm_truncated_in_header.ppm": ppm[:5],
        "bad_ppm_truncated_in_pixels.ppm": ppm[:-7],
        "bad_ppm_no_pixels.ppm": ppm[:11],
        "bad_ppm_maxval_0.ppm": b"P6\n5 4\n0\n" + rgb,
        "bad_ppm_maxval_70000.ppm": b"P6\n5 4\n70000\n" + rgb,
        "bad_ppm_negative_width.ppm": b"P6\n-5 4\n255\n" + rgb,
        "bad_ppm_zero_width.ppm": b"P6\n0 4\n255\n" + rgb,
        "bad_pgm_dims_huge_pixels_tiny.pgm": b"P5\n30000 30000\n255\n" + rgb,
        "bad_pgm_width_beyond_int32.pgm": b"P5\n99999999999 1\n255\n" + rgb,
        "bad_ppm_ascii_p3_unsupported.ppm": b"P3\n1 1\n255\n0 0 0\n",
    })
    return files


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus")
    write_all(out_dir, "safetensors", safetensors_corpus())
    write_all(out_dir, "idx", idx_corpus())
    write_all(out_dir, "caffemodel", caffe_corpus())
    write_all(out_dir, "image", image_corpus())


if __name__ == "__main__":
    main()
