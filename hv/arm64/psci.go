// hv/arm64: ARMv8-A EL2 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package arm64

// PSCI for guests (ARM DEN0022 "Arm Power State Coordination Interface"
// 1.1) and the SMCCC architecture calls (DEN0028), on both the SMC and
// the HVC conduit. A guest's power requests affect only its own VM.

// PSCI and SMCCC function IDs (DEN0022 5.1, DEN0028 7).
const (
	PSCI_VERSION           = 0x8400_0000
	PSCI_CPU_SUSPEND       = 0x8400_0001
	PSCI_CPU_OFF           = 0x8400_0002
	PSCI_CPU_ON            = 0x8400_0003
	PSCI_AFFINITY_INFO     = 0x8400_0004
	PSCI_MIGRATE_INFO_TYPE = 0x8400_0006
	PSCI_SYSTEM_OFF        = 0x8400_0008
	PSCI_SYSTEM_RESET      = 0x8400_0009
	PSCI_FEATURES          = 0x8400_000a
	psci64                 = 0x4000_0000 // SMC64 variant bit

	SMCCC_VERSION       = 0x8000_0000
	SMCCC_ARCH_FEATURES = 0x8000_0001

	// PSCI return codes (DEN0022 5.2.2).
	PSCI_SUCCESS            = 0
	PSCI_NOT_SUPPORTED      = -1
	PSCI_INVALID_PARAMETERS = -2
	PSCI_DENIED             = -3
	PSCI_ALREADY_ON         = -4
	PSCI_ON_PENDING         = -5
	PSCI_INVALID_ADDRESS    = -9

	// AFFINITY_INFO results.
	PSCI_AFF_ON  = 0
	PSCI_AFF_OFF = 1

	// MIGRATE_INFO_TYPE: no Trusted OS that needs migration.
	PSCI_TOS_NOT_PRESENT = 2

	// The versions tamavisor implements.
	psciVersion  = 1<<16 | 1 // PSCI 1.1
	smcccVersion = 1<<16 | 1 // SMCCC 1.1
)

func isPSCI(fid uint64) bool {
	f := uint32(fid) &^ psci64
	return fid>>32 == 0 && f >= PSCI_VERSION && f <= 0x8400_001f
}

func isSMCCCArch(fid uint64) bool {
	return fid>>32 == 0 && uint32(fid)&^psci64 >= SMCCC_VERSION && uint32(fid)&^psci64 <= 0x8000_ffff
}

func ret(v int64) uint64 { return uint64(v) }

// psci serves one PSCI or SMCCC call from x0-x3.
func (v *VCPU) psci() exitAction {
	c := &v.Ctx
	m := v.m
	fid := uint32(c.X[0])
	is64 := fid&psci64 != 0
	arg := func(i int) uint64 {
		if is64 {
			return c.X[i]
		}
		return uint64(uint32(c.X[i]))
	}
	switch fid &^ psci64 {
	case SMCCC_VERSION:
		c.X[0] = smcccVersion
	case SMCCC_ARCH_FEATURES:
		switch uint32(c.X[1]) {
		case SMCCC_VERSION, SMCCC_ARCH_FEATURES:
			c.X[0] = PSCI_SUCCESS
		default:
			c.X[0] = ret(PSCI_NOT_SUPPORTED)
		}
	case PSCI_VERSION:
		c.X[0] = psciVersion
	case PSCI_MIGRATE_INFO_TYPE:
		c.X[0] = PSCI_TOS_NOT_PRESENT
	case PSCI_FEATURES:
		switch uint32(c.X[1]) &^ psci64 {
		case PSCI_VERSION, PSCI_CPU_OFF, PSCI_CPU_ON, PSCI_AFFINITY_INFO,
			PSCI_MIGRATE_INFO_TYPE, PSCI_SYSTEM_OFF, PSCI_SYSTEM_RESET, PSCI_FEATURES,
			SMCCC_VERSION:
			c.X[0] = PSCI_SUCCESS
		default:
			c.X[0] = ret(PSCI_NOT_SUPPORTED)
		}
	case PSCI_CPU_ON:
		c.X[0] = ret(m.cpuOn(arg(1), arg(2), arg(3)))
	case PSCI_AFFINITY_INFO:
		c.X[0] = ret(m.affinityInfo(arg(1), arg(2)))
	case PSCI_CPU_OFF:
		v.state = vcpuOff
		return actStop
	case PSCI_SYSTEM_OFF:
		m.VM.PowerOff()
		return actStop
	case PSCI_SYSTEM_RESET:
		m.VM.RequestReset()
		return actStop
	default:
		c.X[0] = ret(PSCI_NOT_SUPPORTED)
	}
	return actResume
}

// target finds the vCPU with the given MPIDR affinity (Aff0 = index,
// higher levels zero).
func (m *Machine) target(mpidr uint64) (*VCPU, bool) {
	const affMask = 0xff_00ff_ffff
	if mpidr&affMask&^0xff != 0 {
		return nil, false
	}
	i := int(mpidr & 0xff)
	if i >= len(m.VCPUs) {
		return nil, false
	}
	return m.VCPUs[i], true
}

func (m *Machine) cpuOn(mpidr, entry, ctxID uint64) int64 {
	t, ok := m.target(mpidr)
	if !ok {
		return PSCI_INVALID_PARAMETERS
	}
	if t.state != vcpuOff {
		return PSCI_ALREADY_ON
	}
	if !m.VM.RAM.Contains(entry, 4) || entry&3 != 0 {
		return PSCI_INVALID_ADDRESS
	}
	t.Ctx.ResetEL1(entry, ctxID)
	for i := range t.Ctx.LR {
		t.Ctx.LR[i] = 0
	}
	t.state = vcpuRunnable
	return PSCI_SUCCESS
}

func (m *Machine) affinityInfo(mpidr, level uint64) int64 {
	if level != 0 {
		return PSCI_INVALID_PARAMETERS
	}
	t, ok := m.target(mpidr)
	if !ok {
		return PSCI_INVALID_PARAMETERS
	}
	if t.state == vcpuOff {
		return PSCI_AFF_OFF
	}
	return PSCI_AFF_ON
}
