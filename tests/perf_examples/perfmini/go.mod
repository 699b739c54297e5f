module perfmini

go 1.19
