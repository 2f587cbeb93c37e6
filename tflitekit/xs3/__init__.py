"""An emulator of xcore.ai's XS3 vector unit and the int8 kernels xmos runs on it.

Two engines share one instruction set: :class:`~tflitekit.xs3.vpu.VPU` executes one instruction
at a time on Python integers (the instruction-level model), :class:`~tflitekit.xs3.batch_vpu.BatchVPU`
executes the same instructions over numpy arrays with a leading batch. Kernels are instruction
programs that run on either engine and count what they execute.
"""
