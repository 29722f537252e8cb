"""Tensors in and out of TensorFlow Serving's JSON and `TensorProto` encodings.

The JSON rules are TF Serving's (`tensorflow_serving/util/json_tensor.cc`):

* a request holds either `instances` (row format: one list item per example; an object
  per item when the signature has several inputs) or `inputs` (columnar: the tensor
  itself, or an object of tensors by input name), never both;
* a string value may be `{"b64": "..."}` for bytes that are not text;
* a row-format reply is `{"predictions": [...]}`, one item per example (an object of
  outputs when there are several); a columnar reply is `{"outputs": ...}` (the tensor
  itself when there is a single output);
* string outputs whose name ends in `_bytes` are written as `{"b64": ...}`, and so is
  any string that is not valid UTF-8 (JSON cannot carry it otherwise);
* floats may be `NaN`, `Infinity` and `-Infinity`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json

import numpy as np

from suite.serving.errors import invalid

_INT_KINDS, _FLOAT_KINDS = "iu", "iuf"


def parse_request(body: bytes) -> dict:
    """The JSON object of a predict request body.

    Raises:
        ServingError: INVALID_ARGUMENT for an empty body, malformed JSON or a non-object.
    """
    if not body.strip():
        raise invalid("JSON Parse error: The document is empty")
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid(f"JSON Parse error: {e}") from None
    if not isinstance(request, dict):
        raise invalid(f"JSON Value: {_short(request)} Is not object")
    return request


def feeds_from_json(request: dict, inputs: dict) -> tuple[dict[str, np.ndarray], str]:
    """The input arrays of a parsed predict request, and its format.

    Args:
        request: the request object (`instances` or `inputs`, optional `signature_name`).
        inputs: the signature's inputs, `{name: tf.TensorSpec}`.

    Returns:
        `(feeds, format)`: arrays by input name, of the inputs' dtypes; format is `"row"`
        or `"columnar"`.

    Raises:
        ServingError: INVALID_ARGUMENT naming what is malformed and what was expected.
    """
    has_rows, has_columns = "instances" in request, "inputs" in request
    if has_rows == has_columns:
        raise invalid("the request must have exactly one of 'instances' (row format) or "
                      f"'inputs' (columnar format); it has keys {sorted(request)}")
    names = sorted(inputs)
    if has_rows:
        rows = request["instances"]
        if not isinstance(rows, list):
            raise invalid(f"'instances' must be a list, got {_short(rows)}")
        if not rows:
            raise invalid("No values in 'instances' array")
        if not _is_object(rows[0]):
            if len(names) > 1:
                raise invalid("instances is a plain list, but the signature takes several "
                              f"inputs ({', '.join(names)}): send a list of objects")
            return {names[0]: to_array(rows, inputs[names[0]], names[0])}, "row"
        columns = {name: [] for name in names}
        for i, row in enumerate(rows):
            if not _is_object(row) or set(row) != set(names):
                raise invalid(f"item {i} of 'instances' must be an object with the keys "
                              f"{', '.join(names)}; got {_short(row)}")
            for name in names:
                columns[name].append(row[name])
        return {name: to_array(columns[name], inputs[name], name) for name in names}, "row"
    value = request["inputs"]
    if not _is_object(value):
        if len(names) > 1:
            raise invalid("inputs is a plain value/list, but the signature takes several "
                          f"inputs ({', '.join(names)}): send an object of them by name")
        return {names[0]: to_array(value, inputs[names[0]], names[0])}, "columnar"
    missing = [name for name in names if name not in value]
    if missing:
        raise invalid(f"Missing named input: {', '.join(missing)} in 'inputs' object; "
                      f"the signature takes {', '.join(names)}")
    extra = sorted(set(value) - set(names))
    if extra:
        raise invalid(f"unknown input(s) {', '.join(extra)} in 'inputs' object; the "
                      f"signature takes {', '.join(names)}")
    return {name: to_array(value[name], inputs[name], name) for name in names}, "columnar"


def to_array(value, spec, name: str) -> np.ndarray:
    """A JSON value (a scalar or nested lists) as an array of `spec`'s dtype.

    Raises:
        ServingError: INVALID_ARGUMENT for ragged lists, values of the wrong type, bad
            base64 or integers out of the dtype's range.
    """
    dtype = spec.dtype
    if dtype.name == "string":
        shape = _shape(value)
        flat = []
        _strings(value, shape, 0, flat, name)
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    try:
        array = np.array(value)
    except ValueError:
        raise invalid(f"input {name!r}: the lists are ragged (not all of one length at "
                      "each level); a tensor needs equal lengths") from None
    kind = array.dtype.kind
    allowed = ("b" if dtype.is_bool else _FLOAT_KINDS if dtype.is_floating else
               _INT_KINDS if dtype.is_integer else "")
    if not allowed:
        raise invalid(f"input {name!r}: dtype {dtype.name} cannot be sent as JSON")
    if array.size and kind not in allowed:
        sample = array.flat[0] if kind != "O" else _short(value)
        what = {"U": "a string", "b": "a boolean", "f": "a decimal", "O": "mixed or ragged"}
        raise invalid(f"input {name!r}: JSON value {_short(sample)} is "
                      f"{what.get(kind, kind)}; expected type {dtype.name}")
    target = dtype.as_numpy_dtype
    if array.size and kind in _INT_KINDS and dtype.is_integer:
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise invalid(f"input {name!r}: value out of range for {dtype.name} "
                          f"({info.min}..{info.max})")
    return array.astype(target, copy=False)


def _is_object(value) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _shape(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _strings(value, shape, level, out, name):
    if isinstance(value, list):
        if level >= len(shape) or len(value) != shape[level]:
            raise invalid(f"input {name!r}: the lists are ragged (not all of one length at "
                          "each level); a tensor needs equal lengths")
        for item in value:
            _strings(item, shape, level + 1, out, name)
        return
    if level != len(shape):
        raise invalid(f"input {name!r}: value {_short(value)} at nesting level {level + 1}; "
                      f"expected at level {len(shape)}")
    if isinstance(value, str):
        out.append(value.encode("utf-8"))
    elif _is_b64(value):
        try:
            out.append(base64.b64decode(value["b64"], validate=True))
        except (binascii.Error, ValueError):
            raise invalid(f"input {name!r}: {_short(value)} is not valid base64") from None
    elif isinstance(value, dict):
        raise invalid(f"input {name!r}: JSON Value: {_short(value)} not formatted correctly "
                      'for base64 data; expected {"b64": "<base64 string>"}')
    else:
        raise invalid(f"input {name!r}: JSON value {_short(value)} is not a string; "
                      "expected type string (or {\"b64\": ...} for bytes)")


def reply_json(outputs: dict[str, np.ndarray], format: str) -> bytes:
    """The JSON reply body for a predict call's outputs, in the request's format.

    Raises:
        ServingError: INVALID_ARGUMENT for a row-format reply whose outputs do not share
            a batch size (the columnar format has no such constraint).
    """
    names = sorted(outputs)
    if format == "columnar":
        values = {name: _json_value(name, outputs[name]) for name in names}
        body = {"outputs": values[names[0]] if len(names) == 1 else values}
    else:
        batch = None
        for name in names:
            shape = outputs[name].shape
            if not shape:
                raise invalid(f"Tensor name: {name} has no shape information: a scalar "
                              "output needs the columnar format ('inputs')")
            if batch is not None and shape[0] != batch:
                raise invalid(f"Tensor name: {name} has inconsistent batch size: {shape[0]} "
                              f"expecting: {batch}; use the columnar format ('inputs')")
            batch = shape[0]
        values = {name: _json_value(name, outputs[name]) for name in names}
        if len(names) == 1:
            body = {"predictions": values[names[0]]}
        else:
            body = {"predictions": [{name: values[name][i] for name in names}
                                    for i in range(batch)]}
    return json.dumps(body, separators=(",", ":")).encode()


def _json_value(name: str, array: np.ndarray):
    if array.dtype.kind in "OS":
        as_b64 = name.endswith("_bytes")
        return _text(array.tolist(), as_b64)
    if array.dtype.kind == "f" and array.dtype.itemsize < 4:
        array = array.astype(np.float32)
    return array.tolist()


def _text(value, as_b64: bool):
    if isinstance(value, list):
        return [_text(v, as_b64) for v in value]
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def _short(value, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def array_from_proto(proto, spec, name: str) -> np.ndarray:
    """A `TensorProto` of a gRPC request as an array, checked against the input's dtype.

    The forms `tf.make_tensor_proto` writes (numbers as `tensor_content` bytes, strings
    as `string_val`) are read straight from the proto; any other goes through
    `tf.make_ndarray`, several times slower per call.

    Raises:
        ServingError: INVALID_ARGUMENT for a dtype other than the input's or a malformed
            tensor.
    """
    if proto.dtype != spec.dtype.as_datatype_enum:
        raise invalid(f"input {name!r}: expects a tensor of dtype {spec.dtype.name}, got "
                      f"{_dtype_name(proto.dtype)}")
    shape = [d.size for d in proto.tensor_shape.dim]
    size = 1
    for d in shape:
        if d < 0:
            raise invalid(f"input {name!r}: malformed TensorProto: shape {shape}")
        size *= d
    content = proto.tensor_content
    numpy_dtype = _content_dtypes()[1].get(proto.dtype)
    if content and numpy_dtype is not None:
        if len(content) != size * numpy_dtype.itemsize:
            raise invalid(f"input {name!r}: malformed TensorProto: {len(content)} bytes of "
                          f"tensor_content for shape {shape} of {spec.dtype.name}")
        return np.frombuffer(content, numpy_dtype).reshape(shape)
    if not content and proto.dtype == _DT_STRING and len(proto.string_val) == size:
        array = np.empty(size, dtype=object)
        array[:] = proto.string_val
        return array.reshape(shape)
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except (ValueError, TypeError) as e:
        raise invalid(f"input {name!r}: malformed TensorProto: {e}") from None


def array_to_proto(array: np.ndarray, proto=None):
    """An output array as a `TensorProto` for a gRPC reply, in the forms
    `tf.make_tensor_proto` writes (numbers as `tensor_content`, strings as `string_val`).

    Args:
        array: the output.
        proto: the `TensorProto` to fill, such as a reply's `outputs[name]`; a new one
            if None.
    """
    if proto is None:
        from tensorflow.core.framework import tensor_pb2

        proto = tensor_pb2.TensorProto()
    enum = _DT_STRING if array.dtype.kind in "OS" else _content_dtypes()[0].get(array.dtype)
    if enum is None:  # bool, complex, ...: TensorFlow's own encoding
        import tensorflow as tf

        proto.CopyFrom(tf.make_tensor_proto(array))
        return proto
    proto.dtype = enum
    dims = proto.tensor_shape.dim
    for d in array.shape:
        dims.add().size = d
    if enum == _DT_STRING:
        try:
            proto.string_val.extend(array.ravel().tolist())
        except TypeError:  # str items, not bytes
            import tensorflow as tf

            proto.CopyFrom(tf.make_tensor_proto(array))
    else:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto


_DT_STRING = 7  # tensorflow/core/framework/types.proto


@functools.cache
def _content_dtypes() -> tuple[dict, dict]:
    """`({numpy dtype: enum}, {enum: numpy dtype})` for the numeric dtypes whose values
    travel as `tensor_content` bytes."""
    import tensorflow as tf

    by_numpy = {np.dtype(d.as_numpy_dtype): d.as_datatype_enum for d in (
        tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.int8, tf.int16, tf.int32,
        tf.int64, tf.uint8, tf.uint16, tf.uint32, tf.uint64)}
    return by_numpy, {enum: numpy_dtype for numpy_dtype, enum in by_numpy.items()}


def _dtype_name(enum: int) -> str:
    import tensorflow as tf

    if not enum:
        return "DT_INVALID"
    try:
        return tf.dtypes.as_dtype(enum).name
    except TypeError:
        return f"an unknown dtype (enum {enum})"
