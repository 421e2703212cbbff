#include "textflag.h"

// func mulAdd32(x, y, z float32) float32
TEXT ·mulAdd32(SB), NOSPLIT, $0-20
	MOVSS       x+0(FP), X0
	MOVSS       y+4(FP), X1
	MOVSS       z+8(FP), X2
	VFMADD231SS X1, X0, X2
	MOVSS       X2, ret+16(FP)
	RET
