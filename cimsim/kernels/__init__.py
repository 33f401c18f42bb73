"""Speed only, no physics: the tiles' GEMM kernels (integer and bfloat16), their LLVM code
generator, and the per-thread pipeline that runs a tile MVM over batch slices.
"""
