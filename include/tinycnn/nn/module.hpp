// The runtime side of a layer: Module<T, Device> (forward, backward, parameters) and Parameter
// (a value with its gradient). Layers are described by device-agnostic specs (nn/layers.hpp) and
// instantiated as modules by Sequential for a given T and device.
#pragma once

#include <string>
#include <vector>

#include "tinycnn/core/tensor.hpp"
#include "tinycnn/ops/elementwise.hpp"

namespace tinycnn::nn {

// A trainable tensor and its gradient. The gradient accumulates across backward passes until
// zero_grad(); the first accumulation after zero_grad() takes the new gradient without adding.
template <class T, Device D>
struct Parameter {
  Tensor<T, D> value;
  Tensor<T, D> grad;
  bool grad_is_zero = true;

  explicit Parameter(Shape shape) : value(shape), grad(shape) {}

  void accumulate(Tensor<T, D>&& g) {
    if (grad_is_zero) {
      grad = std::move(g);
      grad_is_zero = false;
    } else {
      ops::axpy_(grad, T(1), g);
    }
  }
  void zero_grad() {
    if (!grad_is_zero) grad.zero_();
    grad_is_zero = true;
  }
};

// A parameter or buffer as seen from outside a module: its name within the module ("weight",
// "running_mean") and the tensor.
template <class T, Device D>
struct NamedParameter {
  std::string name;
  Parameter<T, D>* parameter;
};
template <class T, Device D>
struct NamedBuffer {
  std::string name;
  Tensor<T, D>* buffer;
};

// What backward needs from the forward pass, so that Sequential keeps exactly those activations.
struct BackwardNeeds {
  bool input = false;
  bool output = false;
};

template <class T, Device D>
class Module {
 public:
  virtual ~Module() = default;

  // "Conv2d(3, 64, kernel=3, stride=1, padding=1)" and the like, for summaries and errors.
  virtual std::string describe() const = 0;
  // The output shape for an input shape; throws tinycnn::Error (naming the layer) if the input
  // shape is not acceptable.
  virtual Shape output_shape(const Shape& input) const = 0;
  virtual BackwardNeeds backward_needs() const { return {}; }

  // y = f(x). In training mode the module saves whatever else backward needs (argmax, statistics).
  virtual Tensor<T, D> forward(const Tensor<T, D>& x, bool training) = 0;
  // Overwrite x with f(x) when the module can (ReLU); returns false if it cannot.
  virtual bool forward_in_place(Tensor<T, D>& /*x*/, bool /*training*/) { return false; }
  // dx from dy; accumulates parameter gradients. input/output are the forward pass's tensors when
  // backward_needs() asked for them, else null. Frees what forward saved. With need_dx false
  // (the first layer of a network trained on fixed inputs) a module may return an empty tensor.
  virtual Tensor<T, D> backward(const Tensor<T, D>& dy, const Tensor<T, D>* input,
                                const Tensor<T, D>* output, bool need_dx) = 0;
  // Turn dy into dx where dy is no longer needed (ReLU, Flatten, Dropout); false if the module
  // cannot, and then backward() is called instead.
  virtual bool backward_in_place(Tensor<T, D>& /*dy*/, const Tensor<T, D>* /*input*/,
                                 const Tensor<T, D>* /*output*/) {
    return false;
  }

  // Sequential's question before a forward pass when this layer's input is the output of a ReLU
  // that nothing else reads (no tap): can the layer make its input gradient zero wherever that
  // input is not positive? If it answers true for on, the ReLU's backward is left out (and its
  // output not kept): the layer's input gradient is the ReLU's input gradient. Max pooling can
  // (it records no winner for a window whose maximum is not positive). on false asks it to stop.
  virtual bool fold_relu_backward(bool /*on*/) { return false; }
  // Sequential's question before a forward pass when this layer's output feeds a ReLU and nothing
  // else reads it (no tap, not kept for a backward): can the layer write max(y, 0) itself? If it
  // answers true for on, the ReLU's forward is left out (its input already is its output); the
  // ReLU's backward runs as before, from that output. A convolution can (ops::conv2d_relu, which
  // saves the ReLU's pass over the activation). on false asks it to stop.
  virtual bool fuse_relu_forward(bool /*on*/) { return false; }
  // Sequential's question when this layer applies the ReLU after it (fuse_relu_forward answered
  // true) and that ReLU's backward is not folded into the layer after it: can this layer's
  // backward take the ReLU's backward too? If it answers true for on, the ReLU's backward is left
  // out, and this layer's backward gets dy = d loss / d (ReLU output) with the ReLU's output as
  // `output` (the same values as this layer's own output), and masks dy by output > 0 itself. A
  // convolution can (ops::conv2d_backward_data_relu: on CUDA the Winograd input transform masks dy
  // as it reads it). on false asks it to stop.
  virtual bool fuse_relu_backward(bool /*on*/) { return false; }

  // Frozen parameters get no gradients, and the layer stops keeping what only they needed (a
  // convolution's input): backward then computes the input gradient alone (style transfer).
  virtual void freeze(bool frozen) { frozen_ = frozen; }
  bool frozen() const noexcept { return frozen_; }
  // Whether forward keeps what backward needs (argmax, shapes) even outside training. Sequential
  // sets it from its gradient mode; a module used on its own always records.
  void set_record(bool on) noexcept { record_ = on; }

  virtual std::vector<NamedParameter<T, D>> parameters() { return {}; }
  virtual std::vector<NamedBuffer<T, D>> buffers() { return {}; }
  // Drop whatever forward saved for backward (eval, or a forward without backward).
  virtual void release() {}

 protected:
  bool frozen_ = false;
  bool record_ = true;
};

}  // namespace tinycnn::nn
