module github.com/tamavisor/tamavisor

go 1.25.6

require github.com/usbarmory/tamago v1.25.7 // indirect
