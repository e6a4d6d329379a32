module github.com/exmaintd/exmaintd/tools

go 1.26
