"""`TensorProto` conversion of gRPC inputs and outputs: the same arrays as TensorFlow's
`tf.make_ndarray`/`tf.make_tensor_proto`, and the same errors."""

import re

import numpy as np
import pytest
import tensorflow as tf

from suite.serving import tensors
from suite.serving.errors import ServingError

ARRAYS = [
    np.zeros((0, 3), np.float32), np.arange(6, dtype=np.int64).reshape(2, 3), np.float32(3.5),
    np.array([1.5, -2], np.float16), np.array([1.5], tf.bfloat16.as_numpy_dtype),
    np.array([True, False]), np.array([1 + 2j], np.complex64), np.array([7], np.uint16),
    np.array([[b"a", b"\xff"]], dtype=object), np.array(b"x", dtype=object),
    np.array([2**63 - 1], np.int64), np.arange(12.0).reshape(3, 4)[:, ::2],
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(np.shape(a))}")
def test_arrays_round_trip_through_both_encoders(array):
    array = np.asarray(array)
    ours, tensorflows = tensors.array_to_proto(array), tf.make_tensor_proto(array)
    assert ours.dtype == tensorflows.dtype
    np.testing.assert_array_equal(tf.make_ndarray(ours), array)
    spec = tf.TensorSpec(None, tf.dtypes.as_dtype(ours.dtype))
    for proto in (ours, tensorflows):
        back = tensors.array_from_proto(proto, spec, "x")
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)


def test_values_that_tensorflow_repeats_to_fill_the_shape():
    strings = tensors.array_from_proto(tf.make_tensor_proto(b"q", shape=[3]),
                                       tf.TensorSpec([None], tf.string), "x")
    assert strings.tolist() == [b"q"] * 3
    ones = tensors.array_from_proto(tf.make_tensor_proto(1.0, shape=[2, 2]),
                                    tf.TensorSpec(None, tf.float32), "x")
    np.testing.assert_array_equal(ones, np.ones((2, 2), np.float32))


def test_a_reply_output_is_filled_in_place():
    reply = tf.make_tensor_proto(np.zeros(1))  # any message with the TensorProto fields
    reply.Clear()
    tensors.array_to_proto(np.array([1, 2], np.int32), reply)
    np.testing.assert_array_equal(tf.make_ndarray(reply), [1, 2])


def test_malformed_protos_are_invalid_arguments():
    short = tf.make_tensor_proto(np.zeros(3, np.float32))
    short.tensor_content = short.tensor_content[:-1]
    negative = tf.make_tensor_proto(np.zeros(2, np.float32))
    negative.tensor_shape.dim[0].size = -2
    unknown = tf.make_tensor_proto(np.zeros(2, np.float32))
    unknown.dtype = 99
    for proto, spec, message in [
        (short, tf.float32, "11 bytes of tensor_content for shape [3] of float32"),
        (negative, tf.float32, "malformed TensorProto: shape [-2]"),
        (tf.make_tensor_proto([1.0]), tf.string, "expects a tensor of dtype string, got float32"),
        (unknown, tf.float32, "got an unknown dtype (enum 99)"),
    ]:
        with pytest.raises(ServingError, match=re.escape(message)) as raised:
            tensors.array_from_proto(proto, tf.TensorSpec(None, spec), "x")
        assert raised.value.code == "INVALID_ARGUMENT"
