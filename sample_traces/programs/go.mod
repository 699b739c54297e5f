module gclens/samples

go 1.19
