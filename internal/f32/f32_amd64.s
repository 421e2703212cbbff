//go:build !purego

#include "textflag.h"

// Register use is the same in the elementwise kernels: DI points into the
// destination, SI into the source, CX counts the elements left, Y15/Z15 holds
// a broadcast scalar. Every kernel ends with VZEROUPPER.

// maskTable holds 32 all-ones words followed by 32 zero words: the 8 (or 32)
// words at maskTable+4*(32-r) form a VMASKMOVPS mask that selects the first r
// lanes, for 0 <= r <= 32.
DATA maskTable<>+0x00(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x08(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x10(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x18(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x20(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x28(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x30(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x38(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x40(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x48(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x50(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x58(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x60(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x68(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x70(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x78(SB)/8, $0xffffffffffffffff
DATA maskTable<>+0x80(SB)/8, $0
DATA maskTable<>+0x88(SB)/8, $0
DATA maskTable<>+0x90(SB)/8, $0
DATA maskTable<>+0x98(SB)/8, $0
DATA maskTable<>+0xa0(SB)/8, $0
DATA maskTable<>+0xa8(SB)/8, $0
DATA maskTable<>+0xb0(SB)/8, $0
DATA maskTable<>+0xb8(SB)/8, $0
DATA maskTable<>+0xc0(SB)/8, $0
DATA maskTable<>+0xc8(SB)/8, $0
DATA maskTable<>+0xd0(SB)/8, $0
DATA maskTable<>+0xd8(SB)/8, $0
DATA maskTable<>+0xe0(SB)/8, $0
DATA maskTable<>+0xe8(SB)/8, $0
DATA maskTable<>+0xf0(SB)/8, $0
DATA maskTable<>+0xf8(SB)/8, $0
GLOBL maskTable<>(SB), RODATA|NOPTR, $256

// Each kernel loads its arguments, then takes the AVX-512 branch if
// useAVX512 is set, else the AVX2 one.
//
// AVX2 elementwise kernels: 32 elements (4 YMM) per step, then 8 per step,
// then one at a time. AVX-512 elementwise kernels: 64 elements (4 ZMM) per
// step, then 16 per step, then the last fewer than 16 in the AVX2 branch's
// 8-wide and scalar steps. (An opmasked tail measured slower: the next call
// on the same slice cannot forward its loads from a masked store.)

// func addToAsm(dst, src []float32)
TEXT ·addToAsm(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	CMPB ·useAVX512(SB), $0
	JNE  add5
	CMPQ CX, $32
	JB   add2_8

add2_32:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JAE     add2_32

add2_8:
	CMPQ    CX, $8
	JB      add2_1
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     add2_8

add2_1:
	TESTQ  CX, CX
	JZ     add2_done
	VMOVSS (DI), X0
	VADDSS (SI), X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   $4, SI
	DECQ   CX
	JMP    add2_1

add2_done:
	VZEROUPPER
	RET

add5:
	CMPQ CX, $64
	JB   add5_16

add5_64:
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VADDPS  (SI), Z0, Z0
	VADDPS  64(SI), Z1, Z1
	VADDPS  128(SI), Z2, Z2
	VADDPS  192(SI), Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ    $256, DI
	ADDQ    $256, SI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JAE     add5_64

add5_16:
	CMPQ    CX, $16
	JB      add2_8
	VMOVUPS (DI), Z0
	VADDPS  (SI), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     add5_16

// func axpyAsm(alpha float32, x, y []float32)
TEXT ·axpyAsm(SB), NOSPLIT, $0-56
	MOVQ x_base+8(FP), SI
	MOVQ y_base+32(FP), DI
	MOVQ y_len+40(FP), CX
	CMPB ·useAVX512(SB), $0
	JNE  axpy5
	VBROADCASTSS alpha+0(FP), Y15
	CMPQ         CX, $32
	JB           axpy2_8

axpy2_32:
	VMOVUPS     (DI), Y0
	VMOVUPS     32(DI), Y1
	VMOVUPS     64(DI), Y2
	VMOVUPS     96(DI), Y3
	VMULPS     (SI), Y15, Y4
	VADDPS     Y4, Y0, Y0
	VMULPS     32(SI), Y15, Y5
	VADDPS     Y5, Y1, Y1
	VMULPS     64(SI), Y15, Y6
	VADDPS     Y6, Y2, Y2
	VMULPS     96(SI), Y15, Y7
	VADDPS     Y7, Y3, Y3
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y1, 32(DI)
	VMOVUPS     Y2, 64(DI)
	VMOVUPS     Y3, 96(DI)
	ADDQ        $128, DI
	ADDQ        $128, SI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JAE         axpy2_32

axpy2_8:
	CMPQ        CX, $8
	JB          axpy2_1
	VMOVUPS     (DI), Y0
	VMULPS     (SI), Y15, Y4
	VADDPS     Y4, Y0, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	SUBQ        $8, CX
	JMP         axpy2_8

axpy2_1:
	TESTQ       CX, CX
	JZ          axpy2_done
	VMOVSS      (DI), X0
	VMULSS     (SI), X15, X4
	VADDSS     X4, X0, X0
	VMOVSS      X0, (DI)
	ADDQ        $4, DI
	ADDQ        $4, SI
	DECQ        CX
	JMP         axpy2_1

axpy2_done:
	VZEROUPPER
	RET

axpy5:
	VBROADCASTSS alpha+0(FP), Z15
	CMPQ         CX, $64
	JB           axpy5_16

axpy5_64:
	VMOVUPS     (DI), Z0
	VMOVUPS     64(DI), Z1
	VMOVUPS     128(DI), Z2
	VMOVUPS     192(DI), Z3
	VMULPS     (SI), Z15, Z4
	VADDPS     Z4, Z0, Z0
	VMULPS     64(SI), Z15, Z5
	VADDPS     Z5, Z1, Z1
	VMULPS     128(SI), Z15, Z6
	VADDPS     Z6, Z2, Z2
	VMULPS     192(SI), Z15, Z7
	VADDPS     Z7, Z3, Z3
	VMOVUPS     Z0, (DI)
	VMOVUPS     Z1, 64(DI)
	VMOVUPS     Z2, 128(DI)
	VMOVUPS     Z3, 192(DI)
	ADDQ        $256, DI
	ADDQ        $256, SI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JAE         axpy5_64

axpy5_16:
	CMPQ        CX, $16
	JB          axpy2_8
	VMOVUPS     (DI), Z0
	VMULPS     (SI), Z15, Z4
	VADDPS     Z4, Z0, Z0
	VMOVUPS     Z0, (DI)
	ADDQ        $64, DI
	ADDQ        $64, SI
	SUBQ        $16, CX
	JMP         axpy5_16

// func scaleAsm(alpha float32, x []float32)
TEXT ·scaleAsm(SB), NOSPLIT, $0-32
	MOVQ x_base+8(FP), DI
	MOVQ x_len+16(FP), CX
	CMPB ·useAVX512(SB), $0
	JNE  scale5
	VBROADCASTSS alpha+0(FP), Y15
	CMPQ         CX, $32
	JB           scale2_8

scale2_32:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMULPS  Y15, Y0, Y0
	VMULPS  Y15, Y1, Y1
	VMULPS  Y15, Y2, Y2
	VMULPS  Y15, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JAE     scale2_32

scale2_8:
	CMPQ    CX, $8
	JB      scale2_1
	VMOVUPS (DI), Y0
	VMULPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     scale2_8

scale2_1:
	TESTQ  CX, CX
	JZ     scale2_done
	VMOVSS (DI), X0
	VMULSS X15, X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    scale2_1

scale2_done:
	VZEROUPPER
	RET

scale5:
	VBROADCASTSS alpha+0(FP), Z15
	CMPQ         CX, $64
	JB           scale5_16

scale5_64:
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMULPS  Z15, Z0, Z0
	VMULPS  Z15, Z1, Z1
	VMULPS  Z15, Z2, Z2
	VMULPS  Z15, Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ    $256, DI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JAE     scale5_64

scale5_16:
	CMPQ    CX, $16
	JB      scale2_8
	VMOVUPS (DI), Z0
	VMULPS  Z15, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     scale5_16

// func addConstAsm(x []float32, c float32)
TEXT ·addConstAsm(SB), NOSPLIT, $0-28
	MOVQ x_base+0(FP), DI
	MOVQ x_len+8(FP), CX
	CMPB ·useAVX512(SB), $0
	JNE  addc5
	VBROADCASTSS c+24(FP), Y15
	CMPQ         CX, $32
	JB           addc2_8

addc2_32:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  Y15, Y0, Y0
	VADDPS  Y15, Y1, Y1
	VADDPS  Y15, Y2, Y2
	VADDPS  Y15, Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JAE     addc2_32

addc2_8:
	CMPQ    CX, $8
	JB      addc2_1
	VMOVUPS (DI), Y0
	VADDPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     addc2_8

addc2_1:
	TESTQ  CX, CX
	JZ     addc2_done
	VMOVSS (DI), X0
	VADDSS X15, X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    addc2_1

addc2_done:
	VZEROUPPER
	RET

addc5:
	VBROADCASTSS c+24(FP), Z15
	CMPQ         CX, $64
	JB           addc5_16

addc5_64:
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VADDPS  Z15, Z0, Z0
	VADDPS  Z15, Z1, Z1
	VADDPS  Z15, Z2, Z2
	VADDPS  Z15, Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ    $256, DI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JAE     addc5_64

addc5_16:
	CMPQ    CX, $16
	JB      addc2_8
	VMOVUPS (DI), Z0
	VADDPS  Z15, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     addc5_16

// func dotAsm(x, y []float32) float32
//
// AVX2: Y0..Y3 hold the partial sums s[0:8], s[8:16], s[16:24], s[24:32].
// The last partial block (fewer than 32 elements) is loaded with VMASKMOVPS,
// which reads zeros for the lanes past the end without touching their memory.
//
// AVX-512: Z0 and Z1 hold the partial sums s[0:16] and s[16:32]; the last
// partial block is loaded with the zeroing masks K1 (lanes 0..15) and K2
// (lanes 16..31), so the lanes past the end are zeros as in the AVX2 branch.
// The reduction forms the same v[k] = (s[k]+s[k+16]) + (s[k+8]+s[k+24]) as
// the AVX2 branch, so both agree bitwise.
TEXT ·dotAsm(SB), NOSPLIT, $0-52
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ y_base+24(FP), DI
	CMPB ·useAVX512(SB), $0
	JNE  dot5
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JB     dot2_tail

dot2_32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VMULPS     (DI), Y4, Y4
	VADDPS     Y4, Y0, Y0
	VMULPS     32(DI), Y5, Y5
	VADDPS     Y5, Y1, Y1
	VMULPS     64(DI), Y6, Y6
	VADDPS     Y6, Y2, Y2
	VMULPS     96(DI), Y7, Y7
	VADDPS     Y7, Y3, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JAE         dot2_32

dot2_tail:
	TESTQ       CX, CX
	JZ          dot2_reduce
	LEAQ        maskTable<>+128(SB), AX
	SHLQ        $2, CX
	SUBQ        CX, AX
	VMOVDQU     (AX), Y8
	VMOVDQU     32(AX), Y9
	VMOVDQU     64(AX), Y10
	VMOVDQU     96(AX), Y11
	VMASKMOVPS  (SI), Y8, Y4
	VMASKMOVPS  32(SI), Y9, Y5
	VMASKMOVPS  64(SI), Y10, Y6
	VMASKMOVPS  96(SI), Y11, Y7
	VMASKMOVPS  (DI), Y8, Y12
	VMASKMOVPS  32(DI), Y9, Y13
	VMASKMOVPS  64(DI), Y10, Y14
	VMASKMOVPS  96(DI), Y11, Y15
	VMULPS     Y12, Y4, Y4
	VADDPS     Y4, Y0, Y0
	VMULPS     Y13, Y5, Y5
	VADDPS     Y5, Y1, Y1
	VMULPS     Y14, Y6, Y6
	VADDPS     Y6, Y2, Y2
	VMULPS     Y15, Y7, Y7
	VADDPS     Y7, Y3, Y3

dot2_reduce:
	VADDPS       Y2, Y0, Y0 // s[k] + s[k+16]
	VADDPS       Y3, Y1, Y1 // s[k+8] + s[k+24]
	VADDPS       Y1, Y0, Y0 // v[k]
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0 // w[k] = v[k] + v[k+4]
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0 // w[0]+w[2], w[1]+w[3]
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+48(FP)
	RET

dot5:
	VXORPS Y0, Y0, Y0 // a VEX write clears bits 256..511 too
	VXORPS Y1, Y1, Y1
	CMPQ   CX, $32
	JB     dot5_tail

dot5_32:
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMULPS     (DI), Z4, Z4
	VADDPS     Z4, Z0, Z0
	VMULPS     64(DI), Z5, Z5
	VADDPS     Z5, Z1, Z1
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JAE         dot5_32

dot5_tail:
	TESTQ       CX, CX
	JZ          dot5_reduce
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	SHRL        $16, AX
	KMOVW       AX, K2
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   64(SI), K2, Z5
	VMOVUPS.Z   (DI), K1, Z6
	VMOVUPS.Z   64(DI), K2, Z7
	VMULPS     Z6, Z4, Z4
	VADDPS     Z4, Z0, Z0
	VMULPS     Z7, Z5, Z5
	VADDPS     Z5, Z1, Z1

dot5_reduce:
	VADDPS        Z1, Z0, Z0 // t[k] = s[k] + s[k+16], k < 16
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0 // v[k] = t[k] + t[k+8]
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VMOVHLPS      X0, X0, X1
	VADDPS        X1, X0, X0
	VMOVSHDUP     X0, X1
	VADDSS        X1, X0, X0
	VZEROUPPER
	MOVSS         X0, ret+48(FP)
	RET

// func dotRowsAsm(dst, rows []float32, stride int, idx []int32, v []float32)
//
// dst[i] = dotAsm(rows[idx[i]*stride:][:len(v)], v) for i < len(idx), several
// rows at a time against one v, each row's dot product computed exactly as
// dotAsm computes it: the same lanes, the same order of the products within a
// lane, the same operands of every multiply (row, v) and add (partial sum,
// product), the same zero padding of the last partial block and the same
// reduction, only with several rows' independent chains overlapped and the
// loads of v shared. The caller guarantees len(idx) > 0, len(dst) ==
// len(idx) and every row in range. A last group with fewer rows than the
// kernel takes repeats its last row and stores only its own results.
//
// Registers: DI = v, DX = the bytes of v's full 32-element blocks, BX = the
// byte offset of the current block, AX = the next index, CX = the rows left,
// R11 = rows, R12 = stride in bytes, R13 = the next element of dst, and the
// row pointers of the group in SI, R8 (and R9, R10 for AVX-512).
//
// AVX2: two rows per group; Y0..Y3 and Y4..Y7 hold their partial sums
// s[0:8] ... s[24:32], Y8..Y11 the block of v. The last partial block is taken
// 8 lanes at a time, each under its VMASKMOVPS mask (R10 points at the masks,
// R9 is 4*(len(v)%32)).
//
// AVX-512: four rows per group; row r's partial sums s[0:16] and s[16:32] are
// in Z(2r) and Z(2r+1), the block of v in Z8 and Z9; the last partial block is
// loaded under the zeroing masks K1 and K2 as in dotAsm. The four reductions
// run side by side (DOT5_REDUCE4), which performs for each row the same
// additions of the same operands as dot5_reduce.

// DOT2_BLOCK8(off, M, RA, RB, A, B): the 8 elements at byte offset off of the
// last partial block: the mask at off(M) in Y12, v under it in Y13, the rows
// at RA and RB under it in Y14 and Y15; their products are added to A and B.
#define DOT2_BLOCK8(off, M, RA, RB, A, B) \
	VMOVDQU    off(M), Y12; \
	VMASKMOVPS off(DI)(BX*1), Y12, Y13; \
	VMASKMOVPS off(RA)(BX*1), Y12, Y14; \
	VMASKMOVPS off(RB)(BX*1), Y12, Y15; \
	VMULPS     Y13, Y14, Y14; \
	VADDPS     Y14, A, A; \
	VMULPS     Y13, Y15, Y15; \
	VADDPS     Y15, B, B

// DOT2_ROW32(R, A0, A1, A2, A3): the products of the 32 elements of row R at
// BX with v (in Y8..Y11) are added to A0..A3.
#define DOT2_ROW32(R, A0, A1, A2, A3) \
	VMOVUPS (R)(BX*1), Y12; \
	VMOVUPS 32(R)(BX*1), Y13; \
	VMOVUPS 64(R)(BX*1), Y14; \
	VMOVUPS 96(R)(BX*1), Y15; \
	VMULPS  Y8, Y12, Y12; \
	VADDPS  Y12, A0, A0; \
	VMULPS  Y9, Y13, Y13; \
	VADDPS  Y13, A1, A1; \
	VMULPS  Y10, Y14, Y14; \
	VADDPS  Y14, A2, A2; \
	VMULPS  Y11, Y15, Y15; \
	VADDPS  Y15, A3, A3

// DOT2_REDUCE(S0, S1, S2, S3, R0, R1): dot2_reduce on the partial sums in
// the YMM registers S0..S3; the result is left in R0 (the XMM half of S0),
// R1 (that of S1) is scratch.
#define DOT2_REDUCE(S0, S1, S2, S3, R0, R1) \
	VADDPS       S2, S0, S0; \
	VADDPS       S3, S1, S1; \
	VADDPS       S1, S0, S0; \
	VEXTRACTF128 $1, S0, R1; \
	VADDPS       R1, R0, R0; \
	VMOVHLPS     R0, R0, R1; \
	VADDPS       R1, R0, R0; \
	VMOVSHDUP    R0, R1; \
	VADDSS       R1, R0, R0

// DOT5_ROW32(R, A, B, TA, TB): the products of the 32 elements of row R at BX
// with v (in Z8, Z9) are added to A and B, through TA and TB.
#define DOT5_ROW32(R, A, B, TA, TB) \
	VMOVUPS (R)(BX*1), TA; \
	VMOVUPS 64(R)(BX*1), TB; \
	VMULPS  Z8, TA, TA; \
	VADDPS  TA, A, A; \
	VMULPS  Z9, TB, TB; \
	VADDPS  TB, B, B

// DOT5_TAIL32(R, A, B, TA, TB): DOT5_ROW32 under the zeroing masks K1, K2.
#define DOT5_TAIL32(R, A, B, TA, TB) \
	VMOVUPS.Z (R)(BX*1), K1, TA; \
	VMOVUPS.Z 64(R)(BX*1), K2, TB; \
	VMULPS    Z8, TA, TA; \
	VADDPS    TA, A, A; \
	VMULPS    Z9, TB, TB; \
	VADDPS    TB, B, B

// DOT5_REDUCE4: the reductions of the four rows' partial sums in Z0..Z7 side
// by side, leaving the four dot products in X1 (row r in element r); K3 must
// hold 0x1111. In the 128-bit lane notation of VSHUFF32X4, with t_r = s[0:16]
// + s[16:32] of row r (t_r[k] = s[k] + s[k+16]):
//
//	Z1 = [t0.0 t0.1 t1.0 t1.1] + [t0.2 t0.3 t1.2 t1.3] = [v0.lo v0.hi v1.lo v1.hi]
//	Z5 = the same for rows 2 and 3, v[k] = t[k] + t[k+8] as in dot5_reduce
//	Z0 = [v0.lo v1.lo v2.lo v3.lo] + [v0.hi v1.hi v2.hi v3.hi]: lane r holds w_r,
//	     w[k] = v[k] + v[k+4]
//
// then, in every lane, the steps of dot5_reduce on w: [w0 w1 ..] + [w2 w3 ..],
// then element 0 plus element 1, which VCOMPRESSPS gathers from the four
// lanes. Every addition has the operands, in the same order, that the
// corresponding one of dot5_reduce has.
#define DOT5_REDUCE4 \
	VADDPS      Z1, Z0, Z0; \
	VADDPS      Z3, Z2, Z2; \
	VADDPS      Z5, Z4, Z4; \
	VADDPS      Z7, Z6, Z6; \
	VSHUFF32X4  $0x44, Z2, Z0, Z1; \
	VSHUFF32X4  $0xEE, Z2, Z0, Z3; \
	VADDPS      Z3, Z1, Z1; \
	VSHUFF32X4  $0x44, Z6, Z4, Z5; \
	VSHUFF32X4  $0xEE, Z6, Z4, Z7; \
	VADDPS      Z7, Z5, Z5; \
	VSHUFF32X4  $0x88, Z5, Z1, Z0; \
	VSHUFF32X4  $0xDD, Z5, Z1, Z2; \
	VADDPS      Z2, Z0, Z0; \
	VSHUFPS     $0xEE, Z0, Z0, Z1; \
	VADDPS      Z1, Z0, Z0; \
	VMOVSHDUP   Z0, Z1; \
	VADDPS      Z1, Z0, Z0; \
	VCOMPRESSPS Z0, K3, Z1

// ROWPTR(i, R): R = rows + idx[i]*stride.
#define ROWPTR(i, R) \
	MOVLQSX i(AX), R; \
	IMULQ   R12, R; \
	ADDQ    R11, R

TEXT ·dotRowsAsm(SB), NOSPLIT, $0-104
	MOVQ dst_base+0(FP), R13
	MOVQ rows_base+24(FP), R11
	MOVQ stride+48(FP), R12
	SHLQ $2, R12
	MOVQ idx_base+56(FP), AX
	MOVQ v_base+80(FP), DI
	MOVQ v_len+88(FP), DX
	CMPB ·useAVX512(SB), $0
	JNE  dr5
	MOVQ DX, R9
	ANDQ $31, R9
	SHLQ $2, R9
	LEAQ maskTable<>+128(SB), R10
	SUBQ R9, R10
	ANDQ $-32, DX
	SHLQ $2, DX
	MOVQ idx_len+64(FP), CX

dr2_group:
	ROWPTR(0, SI)
	MOVQ SI, R8
	CMPQ CX, $2
	JB   dr2_rows
	ROWPTR(4, R8)

dr2_rows:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   BX, BX
	CMPQ   BX, DX
	JAE    dr2_tail

dr2_32:
	VMOVUPS (DI)(BX*1), Y8
	VMOVUPS 32(DI)(BX*1), Y9
	VMOVUPS 64(DI)(BX*1), Y10
	VMOVUPS 96(DI)(BX*1), Y11
	DOT2_ROW32(SI, Y0, Y1, Y2, Y3)
	DOT2_ROW32(R8, Y4, Y5, Y6, Y7)
	ADDQ    $128, BX
	CMPQ    BX, DX
	JB      dr2_32

dr2_tail:
	TESTQ R9, R9
	JZ    dr2_reduce
	DOT2_BLOCK8(0, R10, SI, R8, Y0, Y4)
	DOT2_BLOCK8(32, R10, SI, R8, Y1, Y5)
	DOT2_BLOCK8(64, R10, SI, R8, Y2, Y6)
	DOT2_BLOCK8(96, R10, SI, R8, Y3, Y7)

dr2_reduce:
	DOT2_REDUCE(Y0, Y1, Y2, Y3, X0, X1)
	DOT2_REDUCE(Y4, Y5, Y6, Y7, X4, X5)
	VMOVSS X0, (R13)
	CMPQ   CX, $2
	JB     dr2_done
	VMOVSS X4, 4(R13)
	ADDQ   $8, R13
	ADDQ   $8, AX
	SUBQ   $2, CX
	JNZ    dr2_group

dr2_done:
	VZEROUPPER
	RET

dr5:
	MOVQ  DX, CX
	ANDQ  $31, CX
	MOVL  $1, R9
	SHLL  CX, R9
	DECL  R9
	KMOVW R9, K1
	SHRL  $16, R9
	KMOVW R9, K2
	MOVL  $0x1111, R9
	KMOVW R9, K3
	ANDQ  $-32, DX
	SHLQ  $2, DX
	MOVQ  idx_len+64(FP), CX

dr5_group:
	ROWPTR(0, SI)
	MOVQ SI, R8
	MOVQ SI, R9
	MOVQ SI, R10
	CMPQ CX, $2
	JB   dr5_rows
	ROWPTR(4, R8)
	MOVQ R8, R9
	MOVQ R8, R10
	CMPQ CX, $3
	JB   dr5_rows
	ROWPTR(8, R9)
	MOVQ R9, R10
	CMPQ CX, $4
	JB   dr5_rows
	ROWPTR(12, R10)

dr5_rows:
	VXORPS Y0, Y0, Y0 // a VEX write clears bits 256..511 too
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   BX, BX
	CMPQ   BX, DX
	JAE    dr5_tail

dr5_32:
	VMOVUPS (DI)(BX*1), Z8
	VMOVUPS 64(DI)(BX*1), Z9
	DOT5_ROW32(SI, Z0, Z1, Z10, Z11)
	DOT5_ROW32(R8, Z2, Z3, Z12, Z13)
	DOT5_ROW32(R9, Z4, Z5, Z14, Z15)
	DOT5_ROW32(R10, Z6, Z7, Z16, Z17)
	ADDQ    $128, BX
	CMPQ    BX, DX
	JB      dr5_32

dr5_tail:
	KORTESTW  K1, K1
	JZ        dr5_reduce
	VMOVUPS.Z (DI)(BX*1), K1, Z8
	VMOVUPS.Z 64(DI)(BX*1), K2, Z9
	DOT5_TAIL32(SI, Z0, Z1, Z10, Z11)
	DOT5_TAIL32(R8, Z2, Z3, Z12, Z13)
	DOT5_TAIL32(R9, Z4, Z5, Z14, Z15)
	DOT5_TAIL32(R10, Z6, Z7, Z16, Z17)

dr5_reduce:
	DOT5_REDUCE4
	CMPQ    CX, $4
	JB      dr5_last
	VMOVUPS X1, (R13)
	ADDQ    $16, R13
	ADDQ    $16, AX
	SUBQ    $4, CX
	JNZ     dr5_group
	VZEROUPPER
	RET

dr5_last:
	VMOVSS     X1, (R13)
	CMPQ       CX, $2
	JB         dr5_done
	VEXTRACTPS $1, X1, 4(R13)
	CMPQ       CX, $3
	JB         dr5_done
	VEXTRACTPS $2, X1, 8(R13)

dr5_done:
	VZEROUPPER
	RET

// func indexAddRowsAsm(dst, rows []float32, stride int, idx []int32)
//
// The caller guarantees len(dst) > 0, len(idx) > 0 and every row in range.
// Each block of dst stays in registers while the rows of all of idx are
// added to it; AX = SI + idx[BX]*stride*4 addresses the block within a row.
//
// AVX2: blocks of 64, 32 and 8 elements held in Y0..Y7, then a last block of
// fewer than 8 elements under a VMASKMOVPS mask.
//
// AVX-512: passes of up to 112 elements (7 ZMM, Z0..Z6) under the opmasks
// K1..K7, which select the lanes of the pass that lie within dst; narrower
// passes use fewer registers: up to 48 elements in Z0..Z2, up to 16 in Z0.
// R11 counts the elements left, AX and DX hold the lane masks of elements
// 0..63 and 64..111 of the pass.
TEXT ·indexAddRowsAsm(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), R11
	MOVQ rows_base+24(FP), SI
	MOVQ stride+48(FP), R8
	SHLQ $2, R8
	MOVQ idx_base+56(FP), R9
	MOVQ idx_len+64(FP), R10
	CMPB ·useAVX512(SB), $0
	JNE  iar5_pass
	MOVQ R11, CX


iar2_64:
	CMPQ    CX, $64
	JB      iar2_32
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	XORQ    BX, BX

iar2_64j:
	MOVLQSX (R9)(BX*4), AX
	IMULQ   R8, AX
	ADDQ    SI, AX
	VADDPS  (AX), Y0, Y0
	VADDPS  32(AX), Y1, Y1
	VADDPS  64(AX), Y2, Y2
	VADDPS  96(AX), Y3, Y3
	VADDPS  128(AX), Y4, Y4
	VADDPS  160(AX), Y5, Y5
	VADDPS  192(AX), Y6, Y6
	VADDPS  224(AX), Y7, Y7
	INCQ    BX
	CMPQ    BX, R10
	JB      iar2_64j
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ    $256, DI
	ADDQ    $256, SI
	SUBQ    $64, CX
	JMP     iar2_64

iar2_32:
	CMPQ    CX, $32
	JB      iar2_8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	XORQ    BX, BX

iar2_32j:
	MOVLQSX (R9)(BX*4), AX
	IMULQ   R8, AX
	ADDQ    SI, AX
	VADDPS  (AX), Y0, Y0
	VADDPS  32(AX), Y1, Y1
	VADDPS  64(AX), Y2, Y2
	VADDPS  96(AX), Y3, Y3
	INCQ    BX
	CMPQ    BX, R10
	JB      iar2_32j
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, CX

iar2_8:
	CMPQ    CX, $8
	JB      iar2_tail
	VMOVUPS (DI), Y0
	XORQ    BX, BX

iar2_8j:
	MOVLQSX (R9)(BX*4), AX
	IMULQ   R8, AX
	VADDPS  (SI)(AX*1), Y0, Y0
	INCQ    BX
	CMPQ    BX, R10
	JB      iar2_8j
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     iar2_8

iar2_tail:
	TESTQ      CX, CX
	JZ         iar2_done
	LEAQ       maskTable<>+128(SB), AX
	SHLQ       $2, CX
	SUBQ       CX, AX
	VMOVDQU    (AX), Y8
	VMASKMOVPS (DI), Y8, Y0
	XORQ       BX, BX

iar2_tailj:
	MOVLQSX    (R9)(BX*4), AX
	IMULQ      R8, AX
	VMASKMOVPS (SI)(AX*1), Y8, Y1
	VADDPS     Y1, Y0, Y0
	INCQ       BX
	CMPQ       BX, R10
	JB         iar2_tailj
	VMASKMOVPS Y0, Y8, (DI)

iar2_done:
	VZEROUPPER
	RET


iar5_pass:
	MOVQ $-1, AX
	CMPQ R11, $64
	JAE  iar5_lo
	MOVQ R11, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX

iar5_lo:
	XORQ DX, DX
	CMPQ R11, $64
	JBE  iar5_masks
	MOVQ R11, CX
	SUBQ $64, CX
	MOVQ $-1, DX
	CMPQ CX, $64
	JAE  iar5_masks
	MOVQ $1, DX
	SHLQ CX, DX
	DECQ DX

iar5_masks:
	KMOVW AX, K1
	SHRQ  $16, AX
	KMOVW AX, K2
	SHRQ  $16, AX
	KMOVW AX, K3
	SHRQ  $16, AX
	KMOVW AX, K4
	KMOVW DX, K5
	SHRQ  $16, DX
	KMOVW DX, K6
	SHRQ  $16, DX
	KMOVW DX, K7
	CMPQ  R11, $16
	JBE   iar5_1
	CMPQ  R11, $48
	JBE   iar5_3

	VMOVUPS.Z (DI), K1, Z0
	VMOVUPS.Z 64(DI), K2, Z1
	VMOVUPS.Z 128(DI), K3, Z2
	VMOVUPS.Z 192(DI), K4, Z3
	VMOVUPS.Z 256(DI), K5, Z4
	VMOVUPS.Z 320(DI), K6, Z5
	VMOVUPS.Z 384(DI), K7, Z6
	XORQ      BX, BX

iar5_7j:
	MOVLQSX (R9)(BX*4), AX
	IMULQ   R8, AX
	ADDQ    SI, AX
	VADDPS  (AX), Z0, K1, Z0
	VADDPS  64(AX), Z1, K2, Z1
	VADDPS  128(AX), Z2, K3, Z2
	VADDPS  192(AX), Z3, K4, Z3
	VADDPS  256(AX), Z4, K5, Z4
	VADDPS  320(AX), Z5, K6, Z5
	VADDPS  384(AX), Z6, K7, Z6
	INCQ    BX
	CMPQ    BX, R10
	JB      iar5_7j
	VMOVUPS Z0, K1, (DI)
	VMOVUPS Z1, K2, 64(DI)
	VMOVUPS Z2, K3, 128(DI)
	VMOVUPS Z3, K4, 192(DI)
	VMOVUPS Z4, K5, 256(DI)
	VMOVUPS Z5, K6, 320(DI)
	VMOVUPS Z6, K7, 384(DI)
	ADDQ    $448, DI
	ADDQ    $448, SI
	SUBQ    $112, R11
	JA      iar5_pass
	JMP     iar5_done

iar5_3:
	VMOVUPS.Z (DI), K1, Z0
	VMOVUPS.Z 64(DI), K2, Z1
	VMOVUPS.Z 128(DI), K3, Z2
	XORQ      BX, BX

iar5_3j:
	MOVLQSX (R9)(BX*4), AX
	IMULQ   R8, AX
	ADDQ    SI, AX
	VADDPS  (AX), Z0, K1, Z0
	VADDPS  64(AX), Z1, K2, Z1
	VADDPS  128(AX), Z2, K3, Z2
	INCQ    BX
	CMPQ    BX, R10
	JB      iar5_3j
	VMOVUPS Z0, K1, (DI)
	VMOVUPS Z1, K2, 64(DI)
	VMOVUPS Z2, K3, 128(DI)
	JMP     iar5_done

iar5_1:
	VMOVUPS.Z (DI), K1, Z0
	XORQ      BX, BX

iar5_1j:
	MOVLQSX (R9)(BX*4), AX
	IMULQ   R8, AX
	VADDPS  (SI)(AX*1), Z0, K1, Z0
	INCQ    BX
	CMPQ    BX, R10
	JB      iar5_1j
	VMOVUPS Z0, K1, (DI)

iar5_done:
	VZEROUPPER
	RET


// iota16 holds the bytes 0, 1, ..., 15: the lane numbers of a ZMM register.
DATA iota16<>+0x00(SB)/8, $0x0706050403020100
DATA iota16<>+0x08(SB)/8, $0x0f0e0d0c0b0a0908
GLOBL iota16<>(SB), RODATA|NOPTR, $16

// func neuronStepAsm(I, V, FI, FO []float32, vth, leak float32, subtract bool, out []int32) int
//
// The caller guarantees len(I) > 0, len(V) = len(FI) = len(FO) = len(I) and
// len(out) >= len(I). R8, R9, R10 and R11 hold the bases of I, V, FI and FO,
// BX the byte offset of the current neuron k in them, CX the neurons left,
// DI the next free element of out and DX its first element. Every step of a
// neuron is one IEEE operation in the order of the Go code: FI+I, V+I, the
// ordered non-signalling compare v > vth (predicate GT_OQ, false for NaN),
// FO+1 and the reset in the lanes that fire, then v*leak. The reset mode is
// chosen once, outside the loops.
//
// The indices of the neurons that fire in a block of 16 (AVX-512) or 8
// (AVX2) are packed to the bottom of a vector that is stored whole at DI,
// which then advances by the number that fired. Since DI never runs ahead of
// out+4k, a whole block's store stays within out[0:len(I)]; the part beyond
// the packed indices is overwritten by the next block or left as scratch.
// The last partial block stores exactly its indices.
//
// AVX-512: blocks of 16 neurons, two per step; the K register of a block
// holds the lanes that fire and VPCOMPRESSD packs the lane indices (Z12,
// Z11 = k..k+15, k+16..k+31) into a register, which is then stored. (The
// memory form of VPCOMPRESSD is reported to be microcoded and slow on AMD
// Zen 4; on the Zen 5 machine this was written on, both forms measured the
// same.) The last fewer than 16 neurons run under the lane mask K3, and
// their indices are stored under the mask K4 of the first popcount lanes.
//
// AVX2: blocks of 8 neurons, two per step, with the compare result as an
// all-ones/all-zeros lane mask: FO+1 and the reset are blended in, and the
// lane indices of the 8-bit VMOVMSKPS mask m come from compressTable[m]
// plus k (Y12, Y11 = broadcast k, k+8). The last fewer than 8 neurons are
// done one at a time.

// NS5_PRE loads the 16 neurons at off(BX): FI += I, Z2 = v = V + I, I = 0,
// K = v > vth, FO += 1 in the lanes of K.
#define NS5_PRE(off, K) \
	VMOVUPS off(R8)(BX*1), Z0; \
	VMOVUPS off(R10)(BX*1), Z1; \
	VMOVUPS off(R9)(BX*1), Z2; \
	VMOVUPS off(R11)(BX*1), Z3; \
	VADDPS  Z0, Z1, Z1; \
	VADDPS  Z0, Z2, Z2; \
	VMOVUPS Z10, off(R8)(BX*1); \
	VMOVUPS Z1, off(R10)(BX*1); \
	VCMPPS  $0x1e, Z15, Z2, K; \
	VADDPS  Z13, Z3, K, Z3; \
	VMOVUPS Z3, off(R11)(BX*1)

// The resets of the lanes of K in Z2: to +0, or v - vth.
#define NS5_RZ(K) VMOVAPS Z10, K, Z2
#define NS5_RS(K) VSUBPS Z15, Z2, K, Z2

// NS5_POST stores V = v * leak and appends the indices IDX of the lanes of K.
#define NS5_POST(off, K, IDX) \
	VMULPS      Z14, Z2, Z2; \
	VMOVUPS     Z2, off(R9)(BX*1); \
	VPCOMPRESSD IDX, K, Z4; \
	VMOVDQU32   Z4, (DI); \
	KMOVW       K, AX; \
	POPCNTL     AX, AX; \
	LEAQ        (DI)(AX*4), DI

#define NS5_BLOCK(off, K, IDX, RESET) NS5_PRE(off, K); RESET(K); NS5_POST(off, K, IDX)

// NS5_TAIL does the last 0 < CX < 16 neurons under the lane mask K3, with
// indices Z12.
#define NS5_TAIL(RESET) \
	MOVL        $1, AX; \
	SHLL        CX, AX; \
	DECL        AX; \
	KMOVW       AX, K3; \
	VMOVUPS.Z   (R8)(BX*1), K3, Z0; \
	VMOVUPS.Z   (R10)(BX*1), K3, Z1; \
	VMOVUPS.Z   (R9)(BX*1), K3, Z2; \
	VMOVUPS.Z   (R11)(BX*1), K3, Z3; \
	VADDPS      Z0, Z1, Z1; \
	VADDPS      Z0, Z2, Z2; \
	VMOVUPS     Z10, K3, (R8)(BX*1); \
	VMOVUPS     Z1, K3, (R10)(BX*1); \
	VCMPPS      $0x1e, Z15, Z2, K3, K1; \
	VADDPS      Z13, Z3, K1, Z3; \
	VMOVUPS     Z3, K3, (R11)(BX*1); \
	RESET(K1); \
	VMULPS      Z14, Z2, Z2; \
	VMOVUPS     Z2, K3, (R9)(BX*1); \
	VPCOMPRESSD Z12, K1, Z4; \
	KMOVW       K1, AX; \
	POPCNTL     AX, CX; \
	MOVL        $1, AX; \
	SHLL        CX, AX; \
	DECL        AX; \
	KMOVW       AX, K4; \
	VMOVDQU32   Z4, K4, (DI); \
	LEAQ        (DI)(CX*4), DI

// NS2_PRE loads the 8 neurons at off(BX): FI += I, Y2 = v = V + I, I = 0,
// Y3 = v > vth, FO += 1 in the lanes of Y3.
#define NS2_PRE(off) \
	VMOVUPS   off(R8)(BX*1), Y0; \
	VMOVUPS   off(R10)(BX*1), Y1; \
	VMOVUPS   off(R9)(BX*1), Y2; \
	VMOVUPS   off(R11)(BX*1), Y4; \
	VADDPS    Y0, Y1, Y1; \
	VADDPS    Y0, Y2, Y2; \
	VMOVUPS   Y10, off(R8)(BX*1); \
	VMOVUPS   Y1, off(R10)(BX*1); \
	VCMPPS    $0x1e, Y15, Y2, Y3; \
	VADDPS    Y13, Y4, Y5; \
	VBLENDVPS Y3, Y5, Y4, Y4; \
	VMOVUPS   Y4, off(R11)(BX*1)

// The resets of the lanes of Y3 in Y2: to +0 (v AND NOT mask), or v - vth.
#define NS2_RZ VANDNPS Y2, Y3, Y2
#define NS2_RS VSUBPS Y15, Y2, Y5; VBLENDVPS Y3, Y5, Y2, Y2

// NS2_POST stores V = v * leak and appends the indices KV+j of the lanes j
// of Y3.
#define NS2_POST(off, KV) \
	VMULPS    Y14, Y2, Y2; \
	VMOVUPS   Y2, off(R9)(BX*1); \
	VMOVMSKPS Y3, AX; \
	VPMOVZXBD (R12)(AX*8), Y6; \
	VPADDD    KV, Y6, Y6; \
	VMOVDQU   Y6, (DI); \
	POPCNTL   AX, AX; \
	LEAQ      (DI)(AX*4), DI

#define NS2_BLOCK(off, KV, RESET) NS2_PRE(off); RESET; NS2_POST(off, KV)

TEXT ·neuronStepAsm(SB), NOSPLIT, $0-144
	MOVQ    I_base+0(FP), R8
	MOVQ    I_len+8(FP), CX
	MOVQ    V_base+24(FP), R9
	MOVQ    FI_base+48(FP), R10
	MOVQ    FO_base+72(FP), R11
	MOVBLZX subtract+104(FP), R13
	MOVQ    out_base+112(FP), DI
	MOVQ    DI, DX
	XORQ    BX, BX
	MOVL    $0x3f800000, AX        // 1.0
	CMPB    ·useAVX512(SB), $0
	JNE     ns5

	VBROADCASTSS vth+96(FP), Y15
	VBROADCASTSS leak+100(FP), Y14
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	VPXOR        Y10, Y10, Y10
	VPXOR        Y12, Y12, Y12   // k = 0
	MOVL         $8, AX
	VMOVD        AX, X8
	VPBROADCASTD X8, Y8          // 8
	VPADDD       Y8, Y12, Y11    // k+8
	VPADDD       Y8, Y8, Y9      // 16
	LEAQ         ·compressTable(SB), R12
	TESTQ        R13, R13
	JNZ          ns2s_16

ns2z_16:
	CMPQ      CX, $16
	JB        ns2z_8
	NS2_BLOCK(0, Y12, NS2_RZ)
	NS2_BLOCK(32, Y11, NS2_RZ)
	VPADDD    Y9, Y12, Y12
	VPADDD    Y9, Y11, Y11
	ADDQ      $64, BX
	SUBQ      $16, CX
	JMP       ns2z_16

ns2z_8:
	CMPQ      CX, $8
	JB        ns2_1
	NS2_BLOCK(0, Y12, NS2_RZ)
	ADDQ      $32, BX
	SUBQ      $8, CX
	JMP       ns2_1

ns2s_16:
	CMPQ      CX, $16
	JB        ns2s_8
	NS2_BLOCK(0, Y12, NS2_RS)
	NS2_BLOCK(32, Y11, NS2_RS)
	VPADDD    Y9, Y12, Y12
	VPADDD    Y9, Y11, Y11
	ADDQ      $64, BX
	SUBQ      $16, CX
	JMP       ns2s_16

ns2s_8:
	CMPQ      CX, $8
	JB        ns2_1
	NS2_BLOCK(0, Y12, NS2_RS)
	ADDQ      $32, BX
	SUBQ      $8, CX

	// The last fewer than 8 neurons, one at a time.
ns2_1:
	TESTQ    CX, CX
	JZ       ns_done
	VMOVSS   (R8)(BX*1), X0
	VMOVSS   (R10)(BX*1), X1
	VMOVSS   (R9)(BX*1), X2
	VADDSS   X0, X1, X1
	VADDSS   X0, X2, X2
	MOVL     $0, (R8)(BX*1)
	VMOVSS   X1, (R10)(BX*1)
	VUCOMISS X15, X2
	JBE      ns2_1_leak          // v <= vth or unordered
	VMOVSS   (R11)(BX*1), X4
	VADDSS   X13, X4, X4
	VMOVSS   X4, (R11)(BX*1)
	MOVQ     BX, AX
	SHRQ     $2, AX
	MOVL     AX, (DI)
	ADDQ     $4, DI
	TESTQ    R13, R13
	JNZ      ns2_1_sub
	VXORPS   X2, X2, X2
	JMP      ns2_1_leak

ns2_1_sub:
	VSUBSS X15, X2, X2

ns2_1_leak:
	VMULSS X14, X2, X2
	VMOVSS X2, (R9)(BX*1)
	ADDQ   $4, BX
	DECQ   CX
	JMP    ns2_1

ns5:
	VBROADCASTSS vth+96(FP), Z15
	VBROADCASTSS leak+100(FP), Z14
	VPBROADCASTD AX, Z13
	VPXORD       Z10, Z10, Z10
	VPMOVZXBD    iota16<>(SB), Z12 // k..k+15, k = 0
	MOVL         $16, AX
	VPBROADCASTD AX, Z8            // 16
	VPADDD       Z8, Z12, Z11      // k+16..k+31
	VPADDD       Z8, Z8, Z9        // 32
	TESTQ        R13, R13
	JNZ          ns5s_32

ns5z_32:
	CMPQ      CX, $32
	JB        ns5z_16
	NS5_BLOCK(0, K1, Z12, NS5_RZ)
	NS5_BLOCK(64, K2, Z11, NS5_RZ)
	VPADDD    Z9, Z12, Z12
	VPADDD    Z9, Z11, Z11
	ADDQ      $128, BX
	SUBQ      $32, CX
	JMP       ns5z_32

ns5z_16:
	CMPQ      CX, $16
	JB        ns5z_tail
	NS5_BLOCK(0, K1, Z12, NS5_RZ)
	VPADDD    Z8, Z12, Z12
	ADDQ      $64, BX
	SUBQ      $16, CX

ns5z_tail:
	TESTQ     CX, CX
	JZ        ns_done
	NS5_TAIL(NS5_RZ)
	JMP       ns_done

ns5s_32:
	CMPQ      CX, $32
	JB        ns5s_16
	NS5_BLOCK(0, K1, Z12, NS5_RS)
	NS5_BLOCK(64, K2, Z11, NS5_RS)
	VPADDD    Z9, Z12, Z12
	VPADDD    Z9, Z11, Z11
	ADDQ      $128, BX
	SUBQ      $32, CX
	JMP       ns5s_32

ns5s_16:
	CMPQ      CX, $16
	JB        ns5s_tail
	NS5_BLOCK(0, K1, Z12, NS5_RS)
	VPADDD    Z8, Z12, Z12
	ADDQ      $64, BX
	SUBQ      $16, CX

ns5s_tail:
	TESTQ     CX, CX
	JZ        ns_done
	NS5_TAIL(NS5_RS)

ns_done:
	SUBQ DX, DI
	SHRQ $2, DI
	MOVQ DI, ret+136(FP)
	VZEROUPPER
	RET

// func adamAsm(w, grad, M, V []float32, s *AdamStep)
//
// Adam's float64 formula, 8 elements a step (AVX-512: one ZMM of doubles
// from one YMM of floats) or 4 (AVX2), len(w) a multiple of 8. Each line of
// the Go formula is one vector instruction in the same order; the operands
// of a multiply or an add are swapped where convenient, which IEEE-754 says
// changes no bit. DI: w, SI: grad, R8: M, R9: V, CX: elements left, AX: s.
// Constants: WD, B1, C1, B2, C2, Step, BC2, Eps in Z16-Z23 (AVX-512) or
// Y8-Y15 (AVX2).
TEXT ·adamAsm(SB), NOSPLIT, $0-104
	MOVQ w_base+0(FP), DI
	MOVQ w_len+8(FP), CX
	MOVQ grad_base+24(FP), SI
	MOVQ M_base+48(FP), R8
	MOVQ V_base+72(FP), R9
	MOVQ s+96(FP), AX
	TESTQ CX, CX
	JZ    adam_done
	CMPB ·useAVX512(SB), $0
	JNE  adam5
	VBROADCASTSD 0(AX), Y8
	VBROADCASTSD 8(AX), Y9
	VBROADCASTSD 16(AX), Y10
	VBROADCASTSD 24(AX), Y11
	VBROADCASTSD 32(AX), Y12
	VBROADCASTSD 40(AX), Y13
	VBROADCASTSD 48(AX), Y14
	VBROADCASTSD 56(AX), Y15

adam2_4:
	VCVTPS2PD  (SI), Y0    // g
	VCVTPS2PD  (DI), Y1    // w
	VMULPD     Y1, Y8, Y2  // WD*w
	VADDPD     Y2, Y0, Y0  // g = grad + WD*w
	VCVTPS2PD  (R8), Y3
	VMULPD     Y3, Y9, Y3  // B1*M
	VMULPD     Y0, Y10, Y4 // C1*g
	VADDPD     Y4, Y3, Y3  // m
	VCVTPS2PD  (R9), Y5
	VMULPD     Y5, Y11, Y5 // B2*V
	VMULPD     Y0, Y12, Y6 // C2*g
	VMULPD     Y0, Y6, Y6  // (C2*g)*g
	VADDPD     Y6, Y5, Y5  // v
	VCVTPD2PSY Y3, X7
	VMOVUPS    X7, (R8)
	VCVTPD2PSY Y5, X7
	VMOVUPS    X7, (R9)
	VSQRTPD    Y5, Y5
	VDIVPD     Y14, Y5, Y5 // sqrt(v)/BC2
	VADDPD     Y15, Y5, Y5 // + Eps
	VMULPD     Y3, Y13, Y3 // Step*m
	VDIVPD     Y5, Y3, Y3  // (Step*m)/(sqrt(v)/BC2+Eps)
	VSUBPD     Y3, Y1, Y1  // w - that
	VCVTPD2PSY Y1, X7
	VMOVUPS    X7, (DI)
	ADDQ       $16, DI
	ADDQ       $16, SI
	ADDQ       $16, R8
	ADDQ       $16, R9
	SUBQ       $4, CX
	JNZ        adam2_4
	VZEROUPPER

adam_done:
	RET

adam5:
	VBROADCASTSD 0(AX), Z16
	VBROADCASTSD 8(AX), Z17
	VBROADCASTSD 16(AX), Z18
	VBROADCASTSD 24(AX), Z19
	VBROADCASTSD 32(AX), Z20
	VBROADCASTSD 40(AX), Z21
	VBROADCASTSD 48(AX), Z22
	VBROADCASTSD 56(AX), Z23

adam5_8:
	VCVTPS2PD (SI), Z0
	VCVTPS2PD (DI), Z1
	VMULPD    Z1, Z16, Z2
	VADDPD    Z2, Z0, Z0
	VCVTPS2PD (R8), Z3
	VMULPD    Z3, Z17, Z3
	VMULPD    Z0, Z18, Z4
	VADDPD    Z4, Z3, Z3
	VCVTPS2PD (R9), Z5
	VMULPD    Z5, Z19, Z5
	VMULPD    Z0, Z20, Z6
	VMULPD    Z0, Z6, Z6
	VADDPD    Z6, Z5, Z5
	VCVTPD2PS Z3, Y7
	VMOVUPS   Y7, (R8)
	VCVTPD2PS Z5, Y7
	VMOVUPS   Y7, (R9)
	VSQRTPD   Z5, Z5
	VDIVPD    Z22, Z5, Z5
	VADDPD    Z23, Z5, Z5
	VMULPD    Z3, Z21, Z3
	VDIVPD    Z5, Z3, Z3
	VSUBPD    Z3, Z1, Z1
	VCVTPD2PS Z1, Y7
	VMOVUPS   Y7, (DI)
	ADDQ      $32, DI
	ADDQ      $32, SI
	ADDQ      $32, R8
	ADDQ      $32, R9
	SUBQ      $8, CX
	JNZ       adam5_8
	VZEROUPPER
	RET

// func addRounded5Asm(acc []int64, g []float32, scale, limit float64) int
//
// AVX-512F + DQ, 8 elements a step, len(g) a multiple of 8. For each
// block: x = float64(g)*scale; every |x| < limit (ordered: NaN fails) or
// stop; q = trunc(x) + (|x-trunc(x)| >= 0.5 ? sign(x) : 0), which is
// math.Round's half away from zero (x - trunc(x) is exact); s = acc + q,
// stopping if some lane overflows ((acc^s)&(q^s) < 0, the Go test's
// condition); store s. DI: acc, SI: g, CX: length, BX: elements done.
TEXT ·addRounded5Asm(SB), NOSPLIT, $0-72
	MOVQ acc_base+0(FP), DI
	MOVQ g_base+24(FP), SI
	MOVQ g_len+32(FP), CX
	XORQ BX, BX
	VBROADCASTSD scale+48(FP), Z16
	VBROADCASTSD limit+56(FP), Z17
	MOVQ         $0x7fffffffffffffff, AX
	VPBROADCASTQ AX, Z18 // clears the sign bit
	MOVQ         $0x3fe0000000000000, AX
	VPBROADCASTQ AX, Z19 // 0.5
	MOVQ         $1, AX
	VPBROADCASTQ AX, Z20 // int64 1

round5_8:
	CMPQ        BX, CX
	JAE         round5_done
	VCVTPS2PD   (SI)(BX*4), Z0
	VMULPD      Z16, Z0, Z0        // x
	VPANDQ      Z18, Z0, Z1        // |x|
	VCMPPD      $0x11, Z17, Z1, K1 // |x| < limit, ordered
	KORTESTB    K1, K1
	JCC         round5_done        // not all 8 lanes in range
	VRNDSCALEPD $0x0b, Z0, Z2      // t = trunc(x)
	VSUBPD      Z2, Z0, Z3         // d = x - t, exact
	VCVTTPD2QQ  Z2, Z4             // q = int64(t)
	VPANDQ      Z18, Z3, Z5        // |d|
	VCMPPD      $0x1d, Z19, Z5, K2 // |d| >= 0.5, ordered
	VPSRAQ      $63, Z3, Z6        // -1 where d < 0, else 0
	VPORQ       Z20, Z6, Z6        // -1 or +1
	VPADDQ      Z6, Z4, K2, Z4     // q += sign where |d| >= 0.5
	VMOVDQU64   (DI)(BX*8), Z8     // a
	VPADDQ      Z4, Z8, Z9         // s = a + q
	VPXORQ      Z8, Z9, Z10
	VPXORQ      Z4, Z9, Z11
	VPANDQ      Z10, Z11, Z10      // (a^s)&(q^s): sign set where the sum overflowed
	VPMOVQ2M    Z10, K3
	KORTESTB    K3, K3
	JNE         round5_done
	VMOVDQU64   Z9, (DI)(BX*8)
	ADDQ        $8, BX
	JMP         round5_8

round5_done:
	VZEROUPPER
	MOVQ BX, ret+64(FP)
	RET

// func addRounded2Asm(acc []int64, g []float32, scale, limit float64) int
//
// AVX2, 4 elements a step, len(g) a multiple of 4, limit at most 2^51 (the
// caller's fast-path limit). As addRounded5Asm, with what AVX2 lacks built
// from exact steps: trunc by VROUNDPD; the integer t, |t| < 2^51, converted
// to int64 as bits(t + M) - bits(M) with M = 2^52 + 2^51 (t + M is exact and
// lies in [2^52, 2^53), whose spacing is 1); the sign of d from its sign bit
// by a signed compare; the lane tests by VMOVMSKPD. DI: acc, SI: g, CX:
// length, BX: elements done. Constants: Y15 scale, Y14 limit, Y13 the mask
// that clears the sign bit, Y12 0.5, Y11 M, Y10 int64 1, Y9 zero.
TEXT ·addRounded2Asm(SB), NOSPLIT, $0-72
	MOVQ acc_base+0(FP), DI
	MOVQ g_base+24(FP), SI
	MOVQ g_len+32(FP), CX
	XORQ BX, BX
	VBROADCASTSD scale+48(FP), Y15
	VBROADCASTSD limit+56(FP), Y14
	MOVQ         $0x7fffffffffffffff, AX
	MOVQ         AX, X13
	VPBROADCASTQ X13, Y13
	MOVQ         $0x3fe0000000000000, AX
	MOVQ         AX, X12
	VPBROADCASTQ X12, Y12
	MOVQ         $0x4338000000000000, AX
	MOVQ         AX, X11
	VPBROADCASTQ X11, Y11
	MOVQ         $1, AX
	MOVQ         AX, X10
	VPBROADCASTQ X10, Y10
	VPXOR        Y9, Y9, Y9

round2_4:
	CMPQ      BX, CX
	JAE       round2_done
	VCVTPS2PD (SI)(BX*4), Y0       // x (before scaling)
	VMULPD    Y15, Y0, Y0          // x
	VANDPD    Y13, Y0, Y1          // |x|
	VCMPPD    $0x11, Y14, Y1, Y2   // |x| < limit, ordered
	VMOVMSKPD Y2, AX
	CMPL      AX, $15
	JNE       round2_done          // not all 4 lanes in range
	VROUNDPD  $0x0b, Y0, Y3        // t = trunc(x)
	VSUBPD    Y3, Y0, Y4           // d = x - t, exact
	VADDPD    Y11, Y3, Y5          // t + M, exact
	VPSUBQ    Y11, Y5, Y5          // q = bits(t + M) - bits(M) = int64(t)
	VANDPD    Y13, Y4, Y6          // |d|
	VCMPPD    $0x1d, Y12, Y6, Y6   // |d| >= 0.5, ordered: all ones or zero
	VPCMPGTQ  Y4, Y9, Y7           // -1 where d's sign bit is set, else 0
	VPOR      Y10, Y7, Y7          // -1 or +1
	VPAND     Y6, Y7, Y7           // that where |d| >= 0.5, else 0
	VPADDQ    Y7, Y5, Y5           // q
	VMOVDQU   (DI)(BX*8), Y8       // a
	VPADDQ    Y5, Y8, Y1           // s = a + q
	VPXOR     Y8, Y1, Y2
	VPXOR     Y5, Y1, Y3
	VPAND     Y2, Y3, Y2           // (a^s)&(q^s): sign set where the sum overflowed
	VMOVMSKPD Y2, AX
	TESTL     AX, AX
	JNE       round2_done
	VMOVDQU   Y1, (DI)(BX*8)
	ADDQ      $4, BX
	JMP       round2_4

round2_done:
	VZEROUPPER
	MOVQ BX, ret+64(FP)
	RET
