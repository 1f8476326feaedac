// Caffe weights (.caffemodel, a binary NetParameter) read straight from the file, without
// libprotobuf, and loaded into an nn::Sequential by layer name: VGG-16/19 and NIN from the Caffe
// model zoo, and anything else made of Convolution and InnerProduct layers.
//
// Both layer formats are read: the current one (NetParameter.layer = 100, LayerParameter with a
// string type) and the deprecated V1 one (NetParameter.layers = 2, V1LayerParameter with an enum
// type, mapped here to the current type names as Caffe's UpgradeV1LayerType does), which the
// model-zoo files VGG_ILSVRC_16_layers, VGG_ILSVRC_19_layers and nin_imagenet use. V0 files are
// refused. Field numbers: tools/caffe_subset.proto (from BVLC Caffe's caffe.proto).
//
// Files are streamed (protobuf.hpp): the layers' names, types and parameters are read, and only
// the blobs of the layers asked for; everything else is skipped with a seek, so loading the 80 MB
// of VGG-19's convolutions from its 575 MB file reads little more than those 80 MB.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/core/shape.hpp"
#include "tinycnn/core/tensor.hpp"
#include "tinycnn/io/protobuf.hpp"
#include "tinycnn/nn/sequential.hpp"

namespace tinycnn::io {

// A BlobProto: its shape (BlobShape, or the legacy (num, channels, height, width)) and its values,
// from `data` (float) or `double_data` (double): one of the two vectors holds them, the other is
// empty (both are empty for a blob of no elements).
struct CaffeBlob {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
  std::vector<double> double_data;
};

// A blob as list_caffemodel describes it: shape, element count, and whether the values are
// stored as double.
struct CaffeBlobInfo {
  std::vector<std::int64_t> shape;
  std::int64_t count = 0;
  bool is_double = false;
};

// ConvolutionParameter, as far as tinycnn uses it. Repeated fields hold one value for both spatial
// axes or one per axis (h, w); unset optionals are absent from the file.
struct CaffeConvolutionParam {
  std::optional<std::uint32_t> num_output;
  bool bias_term = true;
  std::vector<std::uint32_t> pad, kernel_size, stride, dilation;
  std::optional<std::uint32_t> pad_h, pad_w, kernel_h, kernel_w, stride_h, stride_w;
  std::uint32_t group = 1;
};

// InnerProductParameter, as far as tinycnn uses it.
struct CaffeInnerProductParam {
  std::optional<std::uint32_t> num_output;
  bool bias_term = true;
  bool transpose = false;
};

// A layer's name, type (the current names: "Convolution", "InnerProduct", "ReLU", "Pooling", ...;
// a V1 enum value Caffe does not define becomes "unknown V1 layer type <n>") and parameters.
struct CaffeLayerInfo {
  std::string name, type;
  std::vector<CaffeBlobInfo> blobs;
  std::optional<CaffeConvolutionParam> convolution;
  std::optional<CaffeInnerProductParam> inner_product;
};

struct CaffeLayer {
  std::string name, type;
  std::vector<CaffeBlob> blobs;
  std::optional<CaffeConvolutionParam> convolution;
  std::optional<CaffeInnerProductParam> inner_product;
};

// A 2-D convolution's geometry per axis, resolved from a ConvolutionParameter by Caffe's rules.
struct CaffeConv2dGeometry {
  std::int64_t kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0,
               dilation_h = 1, dilation_w = 1;
  friend bool operator==(const CaffeConv2dGeometry&, const CaffeConv2dGeometry&) = default;
};

// The names Caffe gives the V1LayerParameter.LayerType values (UpgradeV1LayerType); empty for
// values Caffe does not define.
inline std::string_view caffe_v1_layer_type_name(std::uint64_t v) noexcept {
  // Indexed by enum value; Caffe defines every value from 0 (NONE) to 39 (DECONVOLUTION).
  // clang-format off
  static constexpr std::string_view kNames[] = {
      /*  0 */ "", "Accuracy", "BNLL", "Concat", "Convolution",
      /*  5 */ "Data", "Dropout", "EuclideanLoss", "Flatten", "HDF5Data",
      /* 10 */ "HDF5Output", "Im2col", "ImageData", "InfogainLoss", "InnerProduct",
      /* 15 */ "LRN", "MultinomialLogisticLoss", "Pooling", "ReLU", "Sigmoid",
      /* 20 */ "Softmax", "SoftmaxWithLoss", "Split", "TanH", "WindowData",
      /* 25 */ "Eltwise", "Power", "SigmoidCrossEntropyLoss", "HingeLoss", "MemoryData",
      /* 30 */ "ArgMax", "Threshold", "DummyData", "Slice", "MVN",
      /* 35 */ "AbsVal", "Silence", "ContrastiveLoss", "Exp", "Deconvolution",
  };
  // clang-format on
  static_assert(std::size(kNames) == 40);
  return v < std::size(kNames) ? kNames[v] : std::string_view{};
}

// Kernel, stride, pad and dilation per axis, as Caffe's BaseConvolutionLayer resolves them:
// kernel_h/kernel_w (both) or kernel_size (1 value for both axes or 2 for h, w), never both;
// stride and pad likewise (defaults 1 and 0); dilation 0, 1 or 2 values (default 1). Throws
// tinycnn::Error (prefixed by `context`) for what Caffe refuses and for 3-D or larger convolutions.
inline CaffeConv2dGeometry caffe_conv2d_geometry(const CaffeConvolutionParam& p,
                                                 const std::string& context) {
  CaffeConv2dGeometry g;
  auto per_axis = [&](const char* what, const std::vector<std::uint32_t>& both,
                      const std::optional<std::uint32_t>& h, const std::optional<std::uint32_t>& w,
                      std::int64_t fallback, std::int64_t& out_h, std::int64_t& out_w) {
    if (h || w) {
      TINYCNN_CHECK(h && w, context, ": ", what, "_h and ", what, "_w must be given together");
      TINYCNN_CHECK(both.empty(), context, ": both ", what, " and ", what, "_h/", what,
                    "_w are given; Caffe accepts only one of them");
      out_h = *h, out_w = *w;
      return;
    }
    TINYCNN_CHECK(both.size() <= 2, context, ": ", what, " has ", both.size(),
                  " values; only 2-D convolutions (1 or 2 values) are supported");
    if (both.empty()) {
      TINYCNN_CHECK(fallback >= 0, context, ": no ", what, " (neither ", what, " nor ", what, "_h/",
                    what, "_w is given)");
      out_h = out_w = fallback;
    } else {
      out_h = both[0], out_w = both.back();
    }
  };
  TINYCNN_CHECK(p.dilation.size() <= 2, context, ": dilation has ", p.dilation.size(),
                " values; only 2-D convolutions (1 or 2 values) are supported");
  per_axis("kernel", p.kernel_size, p.kernel_h, p.kernel_w, -1, g.kernel_h, g.kernel_w);
  per_axis("stride", p.stride, p.stride_h, p.stride_w, 1, g.stride_h, g.stride_w);
  per_axis("pad", p.pad, p.pad_h, p.pad_w, 0, g.pad_h, g.pad_w);
  if (!p.dilation.empty()) g.dilation_h = p.dilation[0], g.dilation_w = p.dilation.back();
  TINYCNN_CHECK(g.kernel_h > 0 && g.kernel_w > 0 && g.stride_h > 0 && g.stride_w > 0 &&
                    g.dilation_h > 0 && g.dilation_w > 0,
                context, ": kernel ", g.kernel_h, "x", g.kernel_w, ", stride ", g.stride_h, "x",
                g.stride_w, " and dilation ", g.dilation_h, "x", g.dilation_w,
                " must all be positive");
  return g;
}

namespace detail {

// Field names for error messages (tools/caffe_subset.proto).
using protobuf::FieldName;
inline constexpr FieldName kCaffeNetFields[] = {{1, "name"}, {2, "layers"}, {100, "layer"}};
inline constexpr FieldName kCaffeV1LayerFields[] = {{1, "layer"},
                                                    {4, "name"},
                                                    {5, "type"},
                                                    {6, "blobs"},
                                                    {10, "convolution_param"},
                                                    {17, "inner_product_param"}};
inline constexpr FieldName kCaffeLayerFields[] = {{1, "name"},
                                                  {2, "type"},
                                                  {7, "blobs"},
                                                  {106, "convolution_param"},
                                                  {117, "inner_product_param"}};
inline constexpr FieldName kCaffeBlobFields[] = {{1, "num"},        {2, "channels"}, {3, "height"},
                                                 {4, "width"},      {5, "data"},     {7, "shape"},
                                                 {8, "double_data"}};
inline constexpr FieldName kCaffeBlobShapeFields[] = {{1, "dim"}};
inline constexpr FieldName kCaffeConvFields[] = {
    {1, "num_output"}, {2, "bias_term"}, {3, "pad"},      {4, "kernel_size"}, {5, "group"},
    {6, "stride"},     {9, "pad_h"},     {10, "pad_w"},   {11, "kernel_h"},   {12, "kernel_w"},
    {13, "stride_h"},  {14, "stride_w"}, {18, "dilation"}};
inline constexpr FieldName kCaffeInnerProductFields[] = {
    {1, "num_output"}, {2, "bias_term"}, {6, "transpose"}};

// Caffe's Blob allows up to 32 axes.
inline constexpr std::size_t kCaffeMaxBlobAxes = 32;

inline std::string caffe_shape_string(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// One pass over a .caffemodel. For every layer: its name, type and parameters; when
// `wanted(name)`, its blobs too (with their values when read_values, else shapes and counts only).
// Calls on_layer(CaffeLayerInfo&&, std::vector<CaffeBlob>&&) for each wanted layer in file order,
// and collects every layer's name in all_names when given.
class CaffeModelParser {
 public:
  CaffeModelParser(const std::filesystem::path& file, std::string context)
      : r_(file, std::move(context), "NetParameter", protobuf::field_namer<kCaffeNetFields>) {}

  template <class Want, class OnLayer>
  void run(const Want& wanted, bool read_values, OnLayer&& on_layer,
           std::vector<std::string>* all_names = nullptr) {
    bool seen_v1 = false, seen_v2 = false;
    std::size_t index = 0;
    for (protobuf::Field f; r_.next(f);) {
      if (f.number != 2 && f.number != 100) continue;  // name, inputs, state, ...: not needed
      const bool v1 = f.number == 2;
      (v1 ? seen_v1 : seen_v2) = true;
      if (seen_v1 && seen_v2)
        r_.fail(f,
                "the file mixes V1 layers (NetParameter field 2 'layers') and current layers "
                "(field 100 'layer'); Caffe refuses such a net too");
      const std::string label = (v1 ? "layers[" : "layer[") + std::to_string(index++) + "]";
      r_.enter(f, label, v1 ? "V1LayerParameter" : "LayerParameter",
               v1 ? protobuf::field_namer<kCaffeV1LayerFields>
                  : protobuf::field_namer<kCaffeLayerFields>);
      read_layer(v1, label, wanted, read_values, on_layer, all_names);
      r_.leave();
    }
  }

 private:
  template <class Want, class OnLayer>
  void read_layer(bool v1, const std::string& label, const Want& wanted, bool read_values,
                  OnLayer& on_layer, std::vector<std::string>* all_names) {
    CaffeLayerInfo info;
    std::vector<protobuf::Field> blob_fields;
    const std::uint32_t kName = v1 ? 4 : 1, kType = v1 ? 5 : 2, kBlobs = v1 ? 6 : 7,
                        kConv = v1 ? 10 : 106, kInnerProduct = v1 ? 17 : 117;
    // Scalars first; the blobs are only remembered here (fields may come in any order, and
    // whether to read them depends on the name).
    for (protobuf::Field f; r_.next(f);) {
      if (v1 && f.number == 1)
        r_.fail(f,
                "this is a V0-format Caffe model (V1LayerParameter holds a V0LayerParameter), "
                "which is unsupported; convert it with Caffe's upgrade_net_proto_binary");
      if (f.number == kName) {
        info.name = r_.string(f);
      } else if (f.number == kType) {
        if (v1) {
          const std::uint64_t t = r_.uint64(f);
          const std::string_view name = caffe_v1_layer_type_name(t);
          info.type = !name.empty() || t == 0 ? std::string(name)
                                              : "unknown V1 layer type " + std::to_string(t);
        } else {
          info.type = r_.string(f);
        }
      } else if (f.number == kBlobs) {
        r_.expect(f, protobuf::WireType::kLengthDelimited, "a BlobProto");
        blob_fields.push_back(f);
      } else if (f.number == kConv) {
        if (!info.convolution) info.convolution.emplace();
        r_.enter(f, "convolution_param", "ConvolutionParameter",
                 protobuf::field_namer<kCaffeConvFields>);
        read_convolution(*info.convolution);
        r_.leave();
      } else if (f.number == kInnerProduct) {
        if (!info.inner_product) info.inner_product.emplace();
        r_.enter(f, "inner_product_param", "InnerProductParameter",
                 protobuf::field_namer<kCaffeInnerProductFields>);
        read_inner_product(*info.inner_product);
        r_.leave();
      }
    }
    if (all_names) all_names->push_back(info.name);
    if (!wanted(std::string_view(info.name))) return;
    r_.relabel(label + " '" + info.name + "'");
    std::vector<CaffeBlob> blobs;
    for (std::size_t i = 0; i < blob_fields.size(); ++i) {
      r_.enter(blob_fields[i], "blobs[" + std::to_string(i) + "]", "BlobProto",
               protobuf::field_namer<kCaffeBlobFields>);
      CaffeBlob blob;
      info.blobs.push_back(read_blob(blob_fields[i], read_values, blob));
      r_.leave();
      blobs.push_back(std::move(blob));
    }
    on_layer(std::move(info), std::move(blobs));
  }

  void read_convolution(CaffeConvolutionParam& p) {
    auto repeated = [&](const protobuf::Field& f, std::vector<std::uint32_t>& out) {
      std::vector<std::uint64_t> v;
      r_.append_varints(f, v);
      for (auto x : v) {
        if (x > std::numeric_limits<std::uint32_t>::max())
          r_.fail(f, "value ", x, " does not fit a uint32 field");
        out.push_back(std::uint32_t(x));
      }
    };
    // clang-format off
    for (protobuf::Field f; r_.next(f);) {
      switch (f.number) {
        case 1: p.num_output = r_.uint32(f); break;
        case 2: p.bias_term = r_.boolean(f); break;
        case 3: repeated(f, p.pad); break;
        case 4: repeated(f, p.kernel_size); break;
        case 5: p.group = r_.uint32(f); break;
        case 6: repeated(f, p.stride); break;
        case 9: p.pad_h = r_.uint32(f); break;
        case 10: p.pad_w = r_.uint32(f); break;
        case 11: p.kernel_h = r_.uint32(f); break;
        case 12: p.kernel_w = r_.uint32(f); break;
        case 13: p.stride_h = r_.uint32(f); break;
        case 14: p.stride_w = r_.uint32(f); break;
        case 18: repeated(f, p.dilation); break;
        default: break;
      }
    }
    // clang-format on
  }

  void read_inner_product(CaffeInnerProductParam& p) {
    // clang-format off
    for (protobuf::Field f; r_.next(f);) {
      switch (f.number) {
        case 1: p.num_output = r_.uint32(f); break;
        case 2: p.bias_term = r_.boolean(f); break;
        case 6: p.transpose = r_.boolean(f); break;
        default: break;
      }
    }
    // clang-format on
  }

  CaffeBlobInfo read_blob(const protobuf::Field& blob_field, bool read_values, CaffeBlob& blob) {
    std::optional<std::int64_t> legacy[4];
    std::optional<std::vector<std::int64_t>> shape;
    std::uint64_t n_float = 0, n_double = 0;
    for (protobuf::Field f; r_.next(f);) {
      switch (f.number) {
        case 1:
        case 2:
        case 3:
        case 4:
          legacy[f.number - 1] = r_.int32(f);
          break;
        case 5:
          if (read_values)
            r_.append_floats(f, blob.data);
          else
            n_float += r_.count_fixed(f, 4);
          break;
        case 8:
          if (read_values)
            r_.append_doubles(f, blob.double_data);
          else
            n_double += r_.count_fixed(f, 8);
          break;
        case 7: {
          if (!shape) shape.emplace();
          r_.enter(f, "shape", "BlobShape", protobuf::field_namer<kCaffeBlobShapeFields>);
          for (protobuf::Field d; r_.next(d);) {
            if (d.number != 1) continue;
            std::vector<std::uint64_t> dims;
            r_.append_varints(d, dims);
            for (auto x : dims) shape->push_back(std::int64_t(x));
            if (shape->size() > kCaffeMaxBlobAxes)
              r_.fail(d, "the shape has more than ", kCaffeMaxBlobAxes, " dimensions");
          }
          r_.leave();
          break;
        }
        default:
          break;  // diff, double_diff
      }
    }
    if (read_values) n_float = blob.data.size(), n_double = blob.double_data.size();

    // Caffe's Blob::FromProto: the legacy 4-D shape wins when any of its fields is present.
    const bool has_legacy = legacy[0] || legacy[1] || legacy[2] || legacy[3];
    if (has_legacy) {
      blob.shape.clear();
      for (auto& d : legacy) blob.shape.push_back(d.value_or(0));
    } else if (shape) {
      blob.shape = *shape;
    }
    std::int64_t numel = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < blob.shape.size(); ++i) {
      const std::int64_t d = blob.shape[i];
      if (d < 0)
        r_.fail_at(blob_field.offset, nullptr, "dimension ", i, " of shape ",
                   caffe_shape_string(blob.shape), " is negative");
      // Checked left to right, as Shape does.
      if (d != 0 && numel > std::numeric_limits<std::int64_t>::max() / d) overflow = true;
      if (!overflow) numel *= d;
    }
    if (overflow)
      r_.fail_at(blob_field.offset, nullptr, "shape ", caffe_shape_string(blob.shape),
                 " has an element count that overflows 64 bits");
    if (n_float > 0 && n_double > 0)
      r_.fail_at(blob_field.offset, nullptr, "the blob holds both float data (", n_float,
                 " values) and double_data (", n_double, " values)");
    const std::uint64_t count = n_float + n_double;
    if (count != std::uint64_t(numel))
      r_.fail_at(blob_field.offset, nullptr, "the blob holds ", count, " values but its shape ",
                 caffe_shape_string(blob.shape), " needs ", numel);
    return {blob.shape, std::int64_t(count), n_double > 0};
  }

  protobuf::Reader r_;
};

}  // namespace detail

// Every layer of a .caffemodel: names, types, parameters and blob shapes, without reading any
// blob's values (cheap even for a 500 MB file). Throws tinycnn::Error for a malformed file.
inline std::vector<CaffeLayerInfo> list_caffemodel(const std::filesystem::path& file) {
  std::vector<CaffeLayerInfo> out;
  detail::CaffeModelParser parser(file, "list_caffemodel");
  parser.run(
      [](std::string_view) { return true; }, false,
      [&](CaffeLayerInfo&& info, std::vector<CaffeBlob>&&) { out.push_back(std::move(info)); });
  return out;
}

// The layers whose names `want` accepts, with their blobs' values, in file order; the blobs of all
// other layers are skipped unread. Throws tinycnn::Error for a malformed file.
inline std::vector<CaffeLayer> read_caffemodel(const std::filesystem::path& file,
                                               const std::function<bool(std::string_view)>& want) {
  std::vector<CaffeLayer> out;
  detail::CaffeModelParser parser(file, "read_caffemodel");
  parser.run(want, true, [&](CaffeLayerInfo&& info, std::vector<CaffeBlob>&& blobs) {
    out.push_back({std::move(info.name), std::move(info.type), std::move(blobs),
                   std::move(info.convolution), std::move(info.inner_product)});
  });
  return out;
}

namespace detail {

inline std::vector<std::int64_t> caffe_drop_leading_ones(std::vector<std::int64_t> s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] == 1) ++i;
  s.erase(s.begin(), s.begin() + std::ptrdiff_t(i));
  return s;
}

// A blob's shape fits a parameter's when they are equal once leading 1s are dropped from both:
// Caffe's legacy 4-D shapes store an InnerProduct weight (out, in) as (1, 1, out, in) and a bias
// (n) as (1, 1, 1, n).
inline bool caffe_shape_fits(const std::vector<std::int64_t>& blob, const Shape& param) {
  const std::vector<std::int64_t> p(param.begin(), param.end());
  return caffe_drop_leading_ones(blob) == caffe_drop_leading_ones(p);
}

inline std::string caffe_name_list(const std::vector<std::string>& names) {
  if (names.empty()) return "no layers";
  std::string s;
  const std::size_t show = std::min<std::size_t>(names.size(), 40);
  for (std::size_t i = 0; i < show; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > show) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace detail

// Loads the weights of every Conv2d and Linear layer of `net` from the Caffe layer of the same
// name: blob 0 into "<layer>.weight", blob 1 into "<layer>.bias". Checked, each a tinycnn::Error
// naming the file and layer:
//   - every such layer has a Caffe layer of its name, "Convolution" for Conv2d and "InnerProduct"
//     for Linear, which appears once in the file;
//   - the Caffe layer has exactly the blobs the layer needs (weight, and bias when it has one);
//   - blob shapes equal the parameter shapes, up to leading 1s (legacy 4-D shapes);
//   - where the file has a ConvolutionParameter: group 1, num_output, bias_term, and kernel,
//     stride, pad and dilation per axis equal to the net's; where it has an
//     InnerProductParameter: num_output, bias_term, and transpose false.
// Other layers with parameters (BatchNorm2d) cannot be loaded and are an error; layers without
// parameters (ReLU, pooling) are not looked up, and Caffe layers the net does not have (fc6..fc8
// for a features-only net, data and loss layers) are ignored. Values are converted to T on the
// host and copied to D. Everything is read and checked before anything is assigned: on an error
// the net is unchanged.
template <class T, Device D>
void load_caffemodel(nn::Sequential<T, D>& net, const std::filesystem::path& file) {
  static_assert(std::is_floating_point_v<T>, "load_caffemodel: T must be float or double");
  const std::string where = "load_caffemodel: '" + file.string() + "'";

  struct Target {
    std::size_t index;
    std::string name, describe;
    bool conv;
  };
  std::vector<Target> targets;
  std::set<std::string, std::less<>> wanted;
  for (std::size_t i = 0; i < net.size(); ++i) {
    auto params = net.module(i).parameters();
    if (params.empty()) continue;
    const auto& spec = net.spec(i);
    const bool conv = std::holds_alternative<nn::Conv2d>(spec);
    TINYCNN_CHECK(conv || std::holds_alternative<nn::Linear>(spec), where, ": the net's layer '",
                  net.name(i), "' (", net.module(i).describe(),
                  ") has parameters but cannot be loaded from a Caffe model: only Conv2d "
                  "(Convolution) and Linear (InnerProduct) layers can");
    targets.push_back({i, net.name(i), net.module(i).describe(), conv});
    wanted.insert(net.name(i));
  }

  std::map<std::string, CaffeLayer, std::less<>> found;
  std::vector<std::string> all_names;
  {
    detail::CaffeModelParser parser(file, "load_caffemodel");
    parser.run([&](std::string_view name) { return wanted.count(name) != 0; }, true,
               [&](CaffeLayerInfo&& info, std::vector<CaffeBlob>&& blobs) {
                 TINYCNN_CHECK(!found.count(info.name), where,
                               ": the file has more than one layer "
                               "named '",
                               info.name, "'; which one to load is ambiguous");
                 std::string name = info.name;
                 found.emplace(
                     std::move(name),
                     CaffeLayer{std::move(info.name), std::move(info.type), std::move(blobs),
                                std::move(info.convolution), std::move(info.inner_product)});
               },
               &all_names);
  }

  std::vector<std::pair<Tensor<T, D>*, Tensor<T, D>>> staged;
  for (const Target& t : targets) {
    const auto it = found.find(t.name);
    TINYCNN_CHECK(it != found.end(), where, " has no layer named '", t.name, "' for the net's ",
                  t.describe, "; the file's layers: ", detail::caffe_name_list(all_names));
    const CaffeLayer& layer = it->second;
    const std::string at = where + ": layer '" + t.name + "'";
    const char* caffe_type = t.conv ? "Convolution" : "InnerProduct";
    TINYCNN_CHECK(layer.type == caffe_type, at, " is a Caffe '", layer.type, "' layer; the net's ",
                  t.describe, " needs a '", caffe_type, "' layer");

    const auto& spec = net.spec(t.index);
    bool has_bias;
    if (t.conv) {
      const auto& c = std::get<nn::Conv2d>(spec);
      has_bias = c.options.bias;
      if (const auto& p = layer.convolution) {
        TINYCNN_CHECK(p->group == 1, at, " has group ", p->group,
                      ": grouped convolution is not supported (the net's ", t.describe,
                      " has group 1)");
        TINYCNN_CHECK(!p->num_output || std::int64_t(*p->num_output) == c.out_channels, at,
                      " has num_output ", p->num_output.value_or(0), "; the net's ", t.describe,
                      " has ", c.out_channels, " output channels");
        TINYCNN_CHECK(p->bias_term == has_bias, at, " has bias_term ",
                      p->bias_term ? "true" : "false", "; the net's ", t.describe,
                      has_bias ? " has a bias" : " has no bias");
        const CaffeConv2dGeometry g = caffe_conv2d_geometry(*p, at);
        const std::int64_t k = c.kernel_size, s = c.options.stride, pd = c.options.padding,
                           dl = c.options.dilation;
        const CaffeConv2dGeometry want{k, k, s, s, pd, pd, dl, dl};
        auto show = [](const CaffeConv2dGeometry& x) {
          return tinycnn::detail::concat("kernel ", x.kernel_h, "x", x.kernel_w, ", stride ",
                                         x.stride_h, "x", x.stride_w, ", pad ", x.pad_h, "x",
                                         x.pad_w, ", dilation ", x.dilation_h, "x", x.dilation_w);
        };
        TINYCNN_CHECK(g == want, at, ": the file's convolution has ", show(g), "; the net's ",
                      t.describe, " has ", show(want));
      }
    } else {
      const auto& l = std::get<nn::Linear>(spec);
      has_bias = l.options.bias;
      if (const auto& p = layer.inner_product) {
        TINYCNN_CHECK(!p->transpose, at,
                      " has transpose: true (weights stored as (in, out)), "
                      "which is not supported");
        TINYCNN_CHECK(!p->num_output || std::int64_t(*p->num_output) == l.out_features, at,
                      " has num_output ", p->num_output.value_or(0), "; the net's ", t.describe,
                      " has ", l.out_features, " outputs");
        TINYCNN_CHECK(p->bias_term == has_bias, at, " has bias_term ",
                      p->bias_term ? "true" : "false", "; the net's ", t.describe,
                      has_bias ? " has a bias" : " has no bias");
      }
    }

    const std::size_t need = has_bias ? 2 : 1;
    TINYCNN_CHECK(layer.blobs.size() == need, at, " has ", layer.blobs.size(),
                  layer.blobs.size() == 1 ? " blob" : " blobs", "; the net's ", t.describe,
                  " needs ", need, has_bias ? " (weight and bias)" : " (weight)");
    auto params = net.module(t.index).parameters();
    for (std::size_t b = 0; b < need; ++b) {
      const CaffeBlob& blob = layer.blobs[b];
      Tensor<T, D>& target = params[b].parameter->value;
      const std::string pname = t.name + "." + params[b].name;
      TINYCNN_CHECK(detail::caffe_shape_fits(blob.shape, target.shape()), at, " blob ", b, " (",
                    params[b].name, ") has shape ", detail::caffe_shape_string(blob.shape),
                    "; the net's parameter '", pname, "' has shape ", target.shape());
      auto host = Tensor<T, cpu>::uninitialized(target.shape());
      T* dst = host.data();
      if (!blob.double_data.empty())
        for (std::size_t i = 0; i < blob.double_data.size(); ++i) dst[i] = T(blob.double_data[i]);
      else
        for (std::size_t i = 0; i < blob.data.size(); ++i) dst[i] = T(blob.data[i]);
      staged.emplace_back(&target, host.template to<D>());
    }
  }
  for (auto& [target, value] : staged) *target = std::move(value);
}

}  // namespace tinycnn::io
