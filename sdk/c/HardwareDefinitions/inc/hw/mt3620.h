/* Written for Rampart's C SDK. */

// This file was generated from the hardware definition mt3620.json by Rampart.

#pragma once

// MT3620 GPIO 0
#define MT3620_GPIO0 (0)

// MT3620 GPIO 1
#define MT3620_GPIO1 (1)

// MT3620 GPIO 2
#define MT3620_GPIO2 (2)

// MT3620 GPIO 3
#define MT3620_GPIO3 (3)

// MT3620 GPIO 4
#define MT3620_GPIO4 (4)

// MT3620 GPIO 5
#define MT3620_GPIO5 (5)

// MT3620 GPIO 6
#define MT3620_GPIO6 (6)

// MT3620 GPIO 7
#define MT3620_GPIO7 (7)

// MT3620 GPIO 8
#define MT3620_GPIO8 (8)

// MT3620 GPIO 9
#define MT3620_GPIO9 (9)

// MT3620 GPIO 10
#define MT3620_GPIO10 (10)

// MT3620 GPIO 11
#define MT3620_GPIO11 (11)

// MT3620 GPIO 12
#define MT3620_GPIO12 (12)

// MT3620 GPIO 13
#define MT3620_GPIO13 (13)

// MT3620 GPIO 14
#define MT3620_GPIO14 (14)

// MT3620 GPIO 15
#define MT3620_GPIO15 (15)

// MT3620 GPIO 16
#define MT3620_GPIO16 (16)

// MT3620 GPIO 17
#define MT3620_GPIO17 (17)

// MT3620 GPIO 18
#define MT3620_GPIO18 (18)

// MT3620 GPIO 19
#define MT3620_GPIO19 (19)

// MT3620 GPIO 20
#define MT3620_GPIO20 (20)

// MT3620 GPIO 21
#define MT3620_GPIO21 (21)

// MT3620 GPIO 22
#define MT3620_GPIO22 (22)

// MT3620 GPIO 23
#define MT3620_GPIO23 (23)

// MT3620 GPIO 24
#define MT3620_GPIO24 (24)

// MT3620 GPIO 25
#define MT3620_GPIO25 (25)

// MT3620 GPIO 26
#define MT3620_GPIO26 (26)

// MT3620 GPIO 27
#define MT3620_GPIO27 (27)

// MT3620 GPIO 28
#define MT3620_GPIO28 (28)

// MT3620 GPIO 29
#define MT3620_GPIO29 (29)

// MT3620 GPIO 30
#define MT3620_GPIO30 (30)

// MT3620 GPIO 31
#define MT3620_GPIO31 (31)

// MT3620 GPIO 32
#define MT3620_GPIO32 (32)

// MT3620 GPIO 33
#define MT3620_GPIO33 (33)

// MT3620 GPIO 34
#define MT3620_GPIO34 (34)

// MT3620 GPIO 35
#define MT3620_GPIO35 (35)

// MT3620 GPIO 36
#define MT3620_GPIO36 (36)

// MT3620 GPIO 37
#define MT3620_GPIO37 (37)

// MT3620 GPIO 38
#define MT3620_GPIO38 (38)

// MT3620 GPIO 39
#define MT3620_GPIO39 (39)

// MT3620 GPIO 40
#define MT3620_GPIO40 (40)

// MT3620 GPIO 41
#define MT3620_GPIO41 (41)

// MT3620 GPIO 42
#define MT3620_GPIO42 (42)

// MT3620 GPIO 43
#define MT3620_GPIO43 (43)

// MT3620 GPIO 44
#define MT3620_GPIO44 (44)

// MT3620 GPIO 45
#define MT3620_GPIO45 (45)

// MT3620 GPIO 46
#define MT3620_GPIO46 (46)

// MT3620 GPIO 47
#define MT3620_GPIO47 (47)

// MT3620 GPIO 48
#define MT3620_GPIO48 (48)

// MT3620 GPIO 49
#define MT3620_GPIO49 (49)

// MT3620 GPIO 50
#define MT3620_GPIO50 (50)

// MT3620 GPIO 51
#define MT3620_GPIO51 (51)

// MT3620 GPIO 52
#define MT3620_GPIO52 (52)

// MT3620 GPIO 53
#define MT3620_GPIO53 (53)

// MT3620 GPIO 54
#define MT3620_GPIO54 (54)

// MT3620 GPIO 55
#define MT3620_GPIO55 (55)

// MT3620 GPIO 56
#define MT3620_GPIO56 (56)

// MT3620 GPIO 57
#define MT3620_GPIO57 (57)

// MT3620 GPIO 58
#define MT3620_GPIO58 (58)

// MT3620 GPIO 59
#define MT3620_GPIO59 (59)

// MT3620 GPIO 60
#define MT3620_GPIO60 (60)

// MT3620 GPIO 61
#define MT3620_GPIO61 (61)

// MT3620 GPIO 62
#define MT3620_GPIO62 (62)

// MT3620 GPIO 63
#define MT3620_GPIO63 (63)

// MT3620 GPIO 64
#define MT3620_GPIO64 (64)

// MT3620 GPIO 65
#define MT3620_GPIO65 (65)

// MT3620 GPIO 66
#define MT3620_GPIO66 (66)

// MT3620 GPIO 67
#define MT3620_GPIO67 (67)

// MT3620 GPIO 68
#define MT3620_GPIO68 (68)

// MT3620 GPIO 69
#define MT3620_GPIO69 (69)

// MT3620 GPIO 70
#define MT3620_GPIO70 (70)

// MT3620 GPIO 71
#define MT3620_GPIO71 (71)

// MT3620 GPIO 72
#define MT3620_GPIO72 (72)

// MT3620 GPIO 73
#define MT3620_GPIO73 (73)

// MT3620 GPIO 74
#define MT3620_GPIO74 (74)

// MT3620 GPIO 75
#define MT3620_GPIO75 (75)

// MT3620 GPIO 76
#define MT3620_GPIO76 (76)

// MT3620 GPIO 77
#define MT3620_GPIO77 (77)

// MT3620 GPIO 78
#define MT3620_GPIO78 (78)

// MT3620 GPIO 79
#define MT3620_GPIO79 (79)

// MT3620 GPIO 80
#define MT3620_GPIO80 (80)

// MT3620 GPIO 81
#define MT3620_GPIO81 (81)

// MT3620 GPIO 82
#define MT3620_GPIO82 (82)

// MT3620 GPIO 83
#define MT3620_GPIO83 (83)

// MT3620 GPIO 84
#define MT3620_GPIO84 (84)

// MT3620 GPIO 85
#define MT3620_GPIO85 (85)

// MT3620 GPIO 86
#define MT3620_GPIO86 (86)

// MT3620 GPIO 87
#define MT3620_GPIO87 (87)

// MT3620 GPIO 88
#define MT3620_GPIO88 (88)

// MT3620 GPIO 89
#define MT3620_GPIO89 (89)

// MT3620 GPIO 90
#define MT3620_GPIO90 (90)

// MT3620 GPIO 91
#define MT3620_GPIO91 (91)

// MT3620 GPIO 92
#define MT3620_GPIO92 (92)

// MT3620 GPIO 93
#define MT3620_GPIO93 (93)

// MT3620 GPIO 94
#define MT3620_GPIO94 (94)

// ADC channel 0
#define MT3620_ADC_CHANNEL0 (0)

// ADC channel 1
#define MT3620_ADC_CHANNEL1 (1)

// ADC channel 2
#define MT3620_ADC_CHANNEL2 (2)

// ADC channel 3
#define MT3620_ADC_CHANNEL3 (3)

// ADC channel 4
#define MT3620_ADC_CHANNEL4 (4)

// ADC channel 5
#define MT3620_ADC_CHANNEL5 (5)

// ADC channel 6
#define MT3620_ADC_CHANNEL6 (6)

// ADC channel 7
#define MT3620_ADC_CHANNEL7 (7)

// PWM channel 0
#define MT3620_PWM_CHANNEL0 (0)

// PWM channel 1
#define MT3620_PWM_CHANNEL1 (1)

// PWM channel 2
#define MT3620_PWM_CHANNEL2 (2)

// PWM channel 3
#define MT3620_PWM_CHANNEL3 (3)

// SPI chip select A
#define MT3620_SPI_CS_A (0)

// SPI chip select B
#define MT3620_SPI_CS_B (1)

// ISU 0 as I2C (no such capability in Rampart)
// MT3620_ISU0_I2C: I2cMaster "ISU0" has no numeric value in Rampart's C SDK

// ISU 0 as SPI (no such capability in Rampart)
// MT3620_ISU0_SPI: SpiMaster "ISU0" has no numeric value in Rampart's C SDK

// ISU 0 as UART (no such capability in Rampart)
// MT3620_ISU0_UART: Uart "ISU0" has no numeric value in Rampart's C SDK

// ISU 1 as I2C (no such capability in Rampart)
// MT3620_ISU1_I2C: I2cMaster "ISU1" has no numeric value in Rampart's C SDK

// ISU 1 as SPI (no such capability in Rampart)
// MT3620_ISU1_SPI: SpiMaster "ISU1" has no numeric value in Rampart's C SDK

// ISU 1 as UART (no such capability in Rampart)
// MT3620_ISU1_UART: Uart "ISU1" has no numeric value in Rampart's C SDK

// ISU 2 as I2C (no such capability in Rampart)
// MT3620_ISU2_I2C: I2cMaster "ISU2" has no numeric value in Rampart's C SDK

// ISU 2 as SPI (no such capability in Rampart)
// MT3620_ISU2_SPI: SpiMaster "ISU2" has no numeric value in Rampart's C SDK

// ISU 2 as UART (no such capability in Rampart)
// MT3620_ISU2_UART: Uart "ISU2" has no numeric value in Rampart's C SDK

// ISU 3 as I2C (no such capability in Rampart)
// MT3620_ISU3_I2C: I2cMaster "ISU3" has no numeric value in Rampart's C SDK

// ISU 3 as SPI (no such capability in Rampart)
// MT3620_ISU3_SPI: SpiMaster "ISU3" has no numeric value in Rampart's C SDK

// ISU 3 as UART (no such capability in Rampart)
// MT3620_ISU3_UART: Uart "ISU3" has no numeric value in Rampart's C SDK

// ISU 4 as I2C (no such capability in Rampart)
// MT3620_ISU4_I2C: I2cMaster "ISU4" has no numeric value in Rampart's C SDK

// ISU 4 as SPI (no such capability in Rampart)
// MT3620_ISU4_SPI: SpiMaster "ISU4" has no numeric value in Rampart's C SDK

// ISU 4 as UART (no such capability in Rampart)
// MT3620_ISU4_UART: Uart "ISU4" has no numeric value in Rampart's C SDK

// ISU 5 as I2C (no such capability in Rampart)
// MT3620_ISU5_I2C: I2cMaster "ISU5" has no numeric value in Rampart's C SDK

// ISU 5 as SPI (no such capability in Rampart)
// MT3620_ISU5_SPI: SpiMaster "ISU5" has no numeric value in Rampart's C SDK

// ISU 5 as UART (no such capability in Rampart)
// MT3620_ISU5_UART: Uart "ISU5" has no numeric value in Rampart's C SDK

// ADC controller (no such capability in Rampart)
// MT3620_ADC_CONTROLLER0: Adc "ADC-CONTROLLER-0" has no numeric value in Rampart's C SDK

// PWM controller 0 (no such capability in Rampart)
// MT3620_PWM_CONTROLLER0: Pwm "PWM-CONTROLLER-0" has no numeric value in Rampart's C SDK

// PWM controller 1 (no such capability in Rampart)
// MT3620_PWM_CONTROLLER1: Pwm "PWM-CONTROLLER-1" has no numeric value in Rampart's C SDK

// PWM controller 2 (no such capability in Rampart)
// MT3620_PWM_CONTROLLER2: Pwm "PWM-CONTROLLER-2" has no numeric value in Rampart's C SDK
